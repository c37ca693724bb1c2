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

var meta = [3]string{"59 ST", "NQR456W", "BMT"}

// TestDeviceLayout: a device value with a retention's worth of readings
// stays small, round-trips exactly, and a truncated or padded value is
// rejected.
func TestDeviceLayout(t *testing.T) {
	rules := testRules()
	s := windows.NewDevice()
	for i := 0; i < 100; i++ {
		s.Outbox = windows.Outbox{}
		s.Apply(rules, windows.Reading{T: int64(i*4) * minute, Entries: int64(i * 10), Exits: int64(i), ID: IDHash(fmt.Sprint(i)), Desc: "REGULAR"}, meta, windows.Stamp{})
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

// TestPendingHead checks that what the relays decode of a changelog value
// (the outbox and the identity strings after it) agrees with the full
// decoders, and which records have nothing to publish.
func TestPendingHead(t *testing.T) {
	rows := []windows.Row{{Start: 60_000, End: 360_000, Rev: 2, Gen: 1, Entries: 7, Exits: 3, Desc: "REGULAR", EmittedAt: 99}}
	dev := windows.NewDevice()
	dev.Station, dev.Line, dev.Division = "59 ST", "NQR456W", "BMT"
	dev.Readings = []windows.Reading{{T: 60_000, Entries: 10, Exits: 5, ID: 1, Desc: "REGULAR"}}
	devOut := *dev
	devOut.Outbox = windows.Outbox{Windows: rows, Late: [][]byte{[]byte("late")}}
	st := windows.NewStation()
	st.Division = "IRT"
	stOut := *st
	stOut.Outbox = windows.Outbox{Windows: rows}
	truncated := EncodeDevice(&devOut, nil)
	truncated = truncated[:len(truncated)-len(dev.Division)-40]

	for _, tc := range []struct {
		name    string
		value   []byte
		want    byte
		ok      bool
		strings [3]string
		corrupt bool
	}{
		{name: "device with outbox", value: EncodeDevice(&devOut, nil), want: TagDevice, ok: true, strings: [3]string{"59 ST", "NQR456W", "BMT"}},
		{name: "device without outbox", value: EncodeDevice(dev, nil), want: TagDevice},
		{name: "station with outbox", value: EncodeStation(&stOut, nil), want: TagStation, ok: true, strings: [3]string{"IRT"}},
		{name: "station without outbox", value: EncodeStation(st, nil), want: TagStation},
		{name: "partition metadata", value: EncodeMeta(&PartitionMeta{StreamTime: 5}), want: TagDevice},
		{name: "tombstone", value: nil, want: TagStation},
		{name: "station value in the device table", value: EncodeStation(&stOut, nil), want: TagDevice, corrupt: true},
		{name: "one byte", value: []byte{TagDevice}, want: TagDevice, corrupt: true},
		{name: "truncated identity", value: truncated, want: TagDevice, corrupt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ok, err := PendingHead(tc.value, tc.want)
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
			if h.Strings != tc.strings {
				t.Errorf("strings = %q, want %q", h.Strings, tc.strings)
			}
			v, err := TableCodec{}.Decode(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			var full windows.Outbox
			switch s := v.(type) {
			case *windows.Device:
				full = s.Outbox
			case *windows.Station:
				full = s.Outbox
			}
			if len(h.Outbox.Windows) != len(full.Windows) || h.Outbox.Windows[0] != full.Windows[0] || len(h.Outbox.Late) != len(full.Late) {
				t.Errorf("outbox = %+v, the full decode has %+v", h.Outbox, full)
			}
		})
	}
}
