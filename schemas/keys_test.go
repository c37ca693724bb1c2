package schemas_test

import (
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestWindowKeys: the sink topics' keys, CA|UNIT|SCP|START and
// STATION|LINENAME|START, START in UTC to the second, and their splits.
func TestWindowKeys(t *testing.T) {
	start := time.Date(2023, 12, 30, 4, 0, 0, 0, time.UTC)
	ny := schemas.DefaultLocation()
	for _, tc := range []struct {
		name    string
		key     string // made by the function under test
		want    string
		station bool
	}{
		{"device", schemas.DeviceWindowKey(schemas.DeviceKey("A002", "R051", "02-00-00"), start), "A002|R051|02-00-00|2023-12-30T04:00:00Z", false},
		{"device, start in New York", schemas.DeviceWindowKey("A002|R051|02-00-00", start.In(ny)), "A002|R051|02-00-00|2023-12-30T04:00:00Z", false},
		{"device, start with milliseconds", schemas.DeviceWindowKey("A002|R051|02-00-00", start.Add(999*time.Millisecond)), "A002|R051|02-00-00|2023-12-30T04:00:00Z", false},
		{"station", schemas.StationWindowKey(schemas.StationKey("59 ST", "NQR456W"), start), "59 ST|NQR456W|2023-12-30T04:00:00Z", true},
		{"station without a line", schemas.StationWindowKey(schemas.StationKey("X", ""), start), "X||2023-12-30T04:00:00Z", true},
		{"before 1970", schemas.StationWindowKey("59 ST|1", time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)), "59 ST|1|1969-12-31T23:00:00Z", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.key != tc.want {
				t.Fatalf("key %q, want %q", tc.key, tc.want)
			}
			cut := strings.LastIndex(tc.want, schemas.KeySeparator)
			at, err := time.Parse(schemas.WindowKeyTime, tc.want[cut+len(schemas.KeySeparator):])
			if got := string(schemas.AppendWindowKey([]byte("before|"), tc.want[:cut], at)); err != nil || got != "before|"+tc.want {
				t.Errorf("AppendWindowKey: %q (%v), want %q after %q", got, err, tc.want, "before|")
			}
			split, other := schemas.SplitDeviceWindowKey, schemas.SplitStationWindowKey
			if tc.station {
				split, other = other, split
			}
			prefix, at, ok := split(tc.key)
			if !ok || prefix+schemas.KeySeparator+at.Format(schemas.WindowKeyTime) != tc.want || at.Location() != time.UTC {
				t.Errorf("split: %q, %v, %v", prefix, at, ok)
			}
			if _, _, ok := other(tc.key); ok {
				t.Errorf("%q splits as the other kind of window key", tc.key)
			}
		})
	}
	for _, bad := range []string{"", "A002|R051|02-00-00", "2023-12-30T04:00:00Z", "A002|R051|02-00-00|2023-12-30", "A|B|C|2023-12-30T04:00:00+01:00", "A|B|C|D|2023-12-30T04:00:00Z"} {
		if _, _, ok := schemas.SplitDeviceWindowKey(bad); ok {
			t.Errorf("SplitDeviceWindowKey(%q) ok", bad)
		}
		if _, _, ok := schemas.SplitStationWindowKey(bad); ok {
			t.Errorf("SplitStationWindowKey(%q) ok", bad)
		}
	}
}
