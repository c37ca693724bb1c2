package wire

import (
	"reflect"
	"testing"

	"github.com/turnstile-streams/turnstile/windows"
)

// TestDeviceRowsRoundTrip: the station-updates codec keeps single rows,
// batches of one station window, and marks apart (each tag is distinct).
func TestDeviceRowsRoundTrip(t *testing.T) {
	r1 := &windows.DeviceRow{Device: "A|U|1", Station: "S", Line: "1", Division: "IRT", Start: 0, End: 300_000, Entries: 5, Exits: 2, Rev: 1}
	r2 := &windows.DeviceRow{Device: "A|U|2", Station: "S", Line: "1", Start: 0, End: 300_000, Entries: 7, Rev: 2, Gen: 1}
	for _, v := range []any{r1, windows.DeviceRows{r1, r2}, &Mark{Source: 3, Time: 42, HasTime: true}} {
		b, err := UpdatesCodec{}.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := UpdatesCodec{}.Decode(b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip of %T: %#v %v", v, got, err)
		}
	}
	// One row encodes in the single-row layout.
	if b := EncodeDeviceRows(windows.DeviceRows{r1}); b[0] != tagDeviceRow {
		t.Fatalf("a one-row batch has tag %d", b[0])
	}
	if _, err := DecodeDeviceRows([]byte{tagDeviceRows, encodingVersion, 0}); err == nil {
		t.Fatal("an empty batch decoded")
	}
}

// TestStationLayout: a station value with corrections, several devices
// and published revisions round-trips exactly; truncations are rejected.
func TestStationLayout(t *testing.T) {
	rules := testRules()
	s := windows.NewStation()
	row := func(dev string, startMin int64, e, x int64, rev int32) *windows.DeviceRow {
		return &windows.DeviceRow{Device: dev, Station: "59 ST", Line: "NQR456W", Division: "BMT",
			Start: startMin * minute, End: (startMin + 5) * minute, Entries: e, Exits: x, Rev: rev}
	}
	s.Apply(rules, row("A", 0, 10, 1, 1), windows.Stamp{})
	s.Apply(rules, row("B", 0, 5, 2, 1), windows.Stamp{})
	s.Apply(rules, row("A", 5, 3, 1, 1), windows.Stamp{})
	s.Close(rules, 10*minute, windows.Stamp{Now: 99, Gen: 1})
	s.Apply(rules, row("B", 0, 7, 2, 2), windows.Stamp{Now: 100, Gen: 1})
	b := EncodeStation(s, nil)
	got, err := DecodeStation(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, s)
	}
	for i := range b {
		if _, err := DecodeStation(b[:i]); err == nil {
			t.Fatalf("truncated station value (%d bytes) decoded", i)
		}
	}
}
