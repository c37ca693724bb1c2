package schemas

import (
	"strings"
	"time"
)

// KeySeparator joins the parts of every key: device, station, reading and
// sink keys.
const KeySeparator = "|"

// DeviceKey joins a device's identifying fields: CA|UNIT|SCP.
func DeviceKey(ca, unit, scp string) string {
	return ca + KeySeparator + unit + KeySeparator + scp
}

// StationKey joins a station's identifying fields: STATION|LINENAME.
func StationKey(station, lineName string) string {
	return station + KeySeparator + lineName
}

// SplitDeviceKey splits a key made by [DeviceKey].
func SplitDeviceKey(key string) (ca, unit, scp string, ok bool) {
	parts := strings.Split(key, KeySeparator)
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// SplitStationKey splits a key made by [StationKey].
func SplitStationKey(key string) (station, lineName string, ok bool) {
	station, lineName, ok = strings.Cut(key, KeySeparator)
	if !ok || strings.Contains(lineName, KeySeparator) {
		return "", "", false
	}
	return station, lineName, true
}

// WindowKeyTime is the layout of a window's START in the sink topics'
// keys: UTC, to the second.
const WindowKeyTime = "2006-01-02T15:04:05Z"

// DeviceWindowKey is the key of a device window on the device windows
// topic: CA|UNIT|SCP|START, device a [DeviceKey] and START the window's
// start in UTC ([WindowKeyTime]). A window's revisions share its key, so
// the topic can be compacted to the latest.
func DeviceWindowKey(device string, start time.Time) string { return windowKey(device, start) }

// StationWindowKey is the key of a station window on the station windows
// topic: STATION|LINENAME|START, station a [StationKey].
func StationWindowKey(station string, start time.Time) string { return windowKey(station, start) }

func windowKey(prefix string, start time.Time) string {
	var at [len(WindowKeyTime) + 8]byte // room for a year past 9999
	var sb strings.Builder
	sb.Grow(len(prefix) + len(KeySeparator) + len(WindowKeyTime))
	sb.WriteString(prefix)
	sb.WriteString(KeySeparator)
	sb.Write(appendKeyTime(at[:0], start))
	return sb.String()
}

// AppendWindowKey appends the window key of prefix and start to b: what
// [DeviceWindowKey] (prefix a [DeviceKey]) or [StationWindowKey] (prefix a
// [StationKey]) returns.
func AppendWindowKey(b []byte, prefix string, start time.Time) []byte {
	b = append(b, prefix...)
	b = append(b, KeySeparator...)
	return appendKeyTime(b, start)
}

// SplitDeviceWindowKey splits a key made by [DeviceWindowKey] into its
// device key (CA|UNIT|SCP) and START.
func SplitDeviceWindowKey(key string) (device string, start time.Time, ok bool) {
	device, start, ok = splitWindowKey(key)
	if _, _, _, isDevice := SplitDeviceKey(device); !ok || !isDevice {
		return "", time.Time{}, false
	}
	return device, start, true
}

// SplitStationWindowKey splits a key made by [StationWindowKey] into its
// station key (STATION|LINENAME) and START.
func SplitStationWindowKey(key string) (station string, start time.Time, ok bool) {
	station, start, ok = splitWindowKey(key)
	if _, _, isStation := SplitStationKey(station); !ok || !isStation {
		return "", time.Time{}, false
	}
	return station, start, true
}

func splitWindowKey(key string) (prefix string, start time.Time, ok bool) {
	i := strings.LastIndex(key, KeySeparator)
	if i < 0 {
		return "", time.Time{}, false
	}
	start, err := time.Parse(WindowKeyTime, key[i+1:])
	if err != nil {
		return "", time.Time{}, false
	}
	return key[:i], start, true
}
