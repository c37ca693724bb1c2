package reference

import (
	"reflect"
	"testing"
)

func TestChangeable(t *testing.T) {
	const min = 60_000
	p := Params{SizeMs: 5 * min, SlideMs: 5 * min, Cumulative: true, MaxDelta: 10000}
	rs := []Reading{
		{Device: "d", Station: "S", Line: "1", T: 1 * min, Entries: 10, ID: "a"},
		{Device: "d", Station: "S", Line: "1", T: 7 * min, Entries: 20, ID: "b"},
		{Device: "d", Station: "S", Line: "1", T: 12 * min, Entries: 30, ID: "c"},
		{Device: "e", Station: "S", Line: "1", T: 13 * min, Entries: 5, ID: "x"},
	}
	for _, tc := range []struct {
		name    string
		p       Params
		late    map[string]bool
		devices map[DeviceKey]bool
	}{
		{"nothing late", p, nil, map[DeviceKey]bool{}},
		// b's own window and its successor c's, whose difference it splits
		{"cumulative", p, map[string]bool{"b": true}, map[DeviceKey]bool{{"d", 5 * min}: true, {"d", 10 * min}: true}},
		{"the last reading has no successor", p, map[string]bool{"c": true}, map[DeviceKey]bool{{"d", 10 * min}: true}},
		{"increment counters: only its own", Params{SizeMs: 5 * min, SlideMs: 5 * min, MaxDelta: 10000}, map[string]bool{"a": true},
			map[DeviceKey]bool{{"d", 0}: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			devices, stations := Changeable(tc.p, rs, tc.late)
			if !reflect.DeepEqual(devices, tc.devices) {
				t.Fatalf("devices %v, want %v", devices, tc.devices)
			}
			want := map[StationKey]bool{}
			for k := range tc.devices {
				want[StationKey{"S", "1", k.Start}] = true
			}
			if !reflect.DeepEqual(stations, want) {
				t.Fatalf("stations %v, want %v", stations, want)
			}
			if d, _ := SinkKeys(devices, stations); len(d) != len(devices) {
				t.Fatalf("sink keys %v", d)
			}
		})
	}
}
