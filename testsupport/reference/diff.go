package reference

import (
	"fmt"
	"strings"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// SinkKey is the window's key on the device sink topic, CA|UNIT|SCP|START
// (the format schemas declares, as the relays use it).
func (k DeviceKey) SinkKey() string {
	return schemas.DeviceWindowKey(k.Device, time.UnixMilli(k.Start))
}

// SinkKey is the window's key on the station sink topic, STATION|LINENAME|START.
func (k StationKey) SinkKey() string {
	return schemas.StationWindowKey(schemas.StationKey(k.Station, k.Line), time.UnixMilli(k.Start))
}

// SinkKeys turns sets of windows into sets of sink keys.
func SinkKeys(devices map[DeviceKey]bool, stations map[StationKey]bool) (map[string]bool, map[string]bool) {
	d, st := make(map[string]bool, len(devices)), make(map[string]bool, len(stations))
	for k := range devices {
		d[k.SinkKey()] = true
	}
	for k := range stations {
		st[k.SinkKey()] = true
	}
	return d, st
}

// DiffDevices compares the latest device windows of a sink topic, by sink
// key (CA|UNIT|SCP|START), with the reference; "" means equal.
func DiffDevices(got map[string]schemas.DeviceWindow, want map[DeviceKey]Row) string {
	return diff(got, want, "windows", func(g schemas.DeviceWindow, w Row) string {
		if g.Entries == w.Entries && g.Exits == w.Exits && g.Desc == w.Desc {
			return ""
		}
		return fmt.Sprintf("got %d/%d %s want %d/%d %s", g.Entries, g.Exits, g.Desc, w.Entries, w.Exits, w.Desc)
	})
}

// DiffStations compares the latest station windows of a sink topic, by sink
// key (STATION|LINENAME|START), with the reference; "" means equal.
func DiffStations(got map[string]schemas.StationWindow, want map[StationKey]Row) string {
	return diff(got, want, "station windows", func(g schemas.StationWindow, w Row) string {
		if g.Entries == w.Entries && g.Exits == w.Exits && int(g.Devices) == w.Devices {
			return ""
		}
		return fmt.Sprintf("got %d/%d/%d want %d/%d/%d", g.Entries, g.Exits, g.Devices, w.Entries, w.Exits, w.Devices)
	})
}

// diff compares published windows by sink key with the reference's rows:
// each missing or different one (differ says how, "" when equal), and the
// counts when they differ.
func diff[K interface {
	comparable
	SinkKey() string
}, W any](got map[string]W, want map[K]Row, noun string, differ func(W, Row) string) string {
	var diffs []string
	for k, w := range want {
		key := k.SinkKey()
		g, ok := got[key]
		if !ok {
			diffs = append(diffs, "missing "+key)
		} else if d := differ(g, w); d != "" {
			diffs = append(diffs, key+": "+d)
		}
	}
	if len(got) != len(want) {
		diffs = append(diffs, fmt.Sprintf("%d %s published, %d expected", len(got), noun, len(want)))
	}
	return summarize(diffs)
}

func summarize(diffs []string) string {
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("... %d differences", len(diffs)))
	}
	return strings.Join(diffs, "\n")
}

// FromSchemas converts readings as produced to the reference's form; a
// reading whose event time does not parse is a bug in the test making it.
func FromSchemas(rs []schemas.Reading) []Reading {
	out := make([]Reading, 0, len(rs))
	for _, r := range rs {
		t, err := r.ParseEventTime()
		if err != nil {
			panic(fmt.Sprintf("reference: reading %s: %v", r.ID, err))
		}
		out = append(out, Reading{Device: r.DeviceKey(), Station: r.Station, Line: r.LineName, Division: r.Division,
			T: t.UnixMilli(), Entries: r.Entries, Exits: r.Exits, ID: r.ID, Desc: r.Desc})
	}
	return out
}
