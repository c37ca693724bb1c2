package wire

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/windows"
)

const minute = int64(60_000)

func testRules() *windows.Rules {
	w, _ := windows.NewSpec(5*time.Minute, 0)
	return &windows.Rules{Windows: w, Grace: 5 * minute, Retention: 60 * minute, Counters: windows.Cumulative, MaxDelta: 10000, Emit: windows.EmitFinal}
}

// TestDeviceLayout: a device value with a retention's worth of readings
// stays small, round-trips exactly, and a truncated or padded value is
// rejected.
func TestDeviceLayout(t *testing.T) {
	rules := testRules()
	s := windows.NewDevice()
	for i := 0; i < 100; i++ {
		s.Outbox = windows.Outbox{}
		s.Apply(rules, windows.Reading{T: int64(i*4) * minute, Entries: int64(i * 10), Exits: int64(i), ID: IDHash(fmt.Sprint(i)), Desc: "REGULAR"}, "BMT", windows.Stamp{}, nil)
		s.Close(rules, int64(i*4)*minute, windows.Stamp{})
	}
	b := EncodeDevice(s, nil)
	// Retention 60m of 4-minute readings: about 15 readings plus a base.
	if len(b) > 400 {
		t.Errorf("encoded device state is %d bytes", len(b))
	}
	got, err := DecodeDevice(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, s)
	}
	for i := 0; i < len(b); i++ {
		if _, err := DecodeDevice(b[:i]); err == nil {
			t.Fatalf("truncated to %d bytes decoded", i)
		}
	}
	if _, err := DecodeDevice(append(b, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v, want ErrCorrupt", err)
	}
}

// TestPendingHead checks that what the relay decodes of a changelog value
// (the outbox and the division after it) agrees with the full decoder,
// and which records have nothing to publish.
func TestPendingHead(t *testing.T) {
	rows := []windows.Row{{Start: 60_000, End: 360_000, Rev: 2, Gen: 1, Entries: 7, Exits: 3, Desc: "REGULAR", EmittedAt: 99}}
	stations := []windows.Row{{Start: 60_000, End: 360_000, Rev: 3, Gen: 1, Entries: 70, Exits: 30, Devices: 4, EmittedAt: 99}}
	dev := windows.NewDevice()
	dev.Division = "BMT"
	dev.Readings = []windows.Reading{{T: 60_000, Entries: 10, Exits: 5, ID: 1, Desc: "REGULAR"}}
	devOut := *dev
	devOut.Outbox = windows.Outbox{Windows: rows, Stations: stations, Late: [][]byte{[]byte("late")}}
	truncated := EncodeDevice(&devOut, nil)
	truncated = truncated[:len(truncated)-len(dev.Division)-40]

	for _, tc := range []struct {
		name     string
		value    []byte
		ok       bool
		division string
		corrupt  bool
	}{
		{name: "device with outbox", value: EncodeDevice(&devOut, nil), ok: true, division: "BMT"},
		{name: "device without outbox", value: EncodeDevice(dev, nil)},
		{name: "partition metadata", value: EncodeMeta(&PartitionMeta{StreamTime: 5})},
		{name: "tombstone", value: nil},
		{name: "one byte", value: []byte{TagDevice}, corrupt: true},
		{name: "truncated division", value: truncated, corrupt: true},
		{name: "two-stage device layout", value: []byte{TagDevice, 1, 0, 0}, corrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok, err := PendingHead(tc.value)
			if tc.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil || ok != tc.ok {
				t.Fatalf("ok, err = %v, %v; want %v, nil", ok, err, tc.ok)
			}
			if !ok {
				return
			}
			if h.Division != tc.division {
				t.Errorf("division = %q, want %q", h.Division, tc.division)
			}
			full, err := DecodeDevice(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(h.Outbox, full.Outbox) {
				t.Errorf("outbox = %+v, the full decode has %+v", h.Outbox, full.Outbox)
			}
		})
	}
}
