package wire

import (
	"errors"
	"reflect"
	"testing"

	"github.com/turnstile-streams/turnstile/watermark"
	"github.com/turnstile-streams/turnstile/windows"
)

func TestRecordCodecsRoundTrip(t *testing.T) {
	r := &Reading{T: 1704000000000}
	r.CA, r.Unit, r.SCP, r.Station, r.ID, r.Entries = "A002", "R051", "02-00-00", "59 ST", "id-1", 42
	got, err := ReadingCodec{}.Decode(EncodeReading(r, nil))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("reading: %+v %v", got, err)
	}
	for _, tick := range []Tick{{Wall: 456, CaughtUp: true}, {Wall: 457, LagKnown: true}, {Wall: 458, LagKnown: true, Lagging: []int32{0, 3, 23}}, {Wall: 459, CaughtUp: true, LagKnown: true, QuietMs: 2500},
		{Wall: 460, LagKnown: true, QuietMs: 1 << 62, EndsAt: 253022}} {
		b, err := LoopCodec{}.Encode(tick)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := (LoopCodec{}).Decode(b); err != nil || !reflect.DeepEqual(got, tick) {
			t.Fatalf("tick: %+v %v, want %+v", got, err, tick)
		}
		if _, err := (LoopCodec{}).Decode(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated tick: %v", err)
		}
	}
	// A tick of the version before (tag 21: wall, caught up) reads with
	// its lag unknown.
	if got, err := (LoopCodec{}).Decode([]byte{21, encodingVersion, 0x90, 0x07, 1}); err != nil || !reflect.DeepEqual(got, Tick{Wall: 456, CaughtUp: true}) {
		t.Fatalf("tick of the version before: %+v %v", got, err)
	}
	// A tick of tag 22 (wall, caught up, lag) reads with its quiet unknown.
	if got, err := (LoopCodec{}).Decode([]byte{22, encodingVersion, 0x90, 0x07, 1, 1, 1, 6}); err != nil ||
		!reflect.DeepEqual(got, Tick{Wall: 456, CaughtUp: true, LagKnown: true, Lagging: []int32{3}}) {
		t.Fatalf("tick of tag 22: %+v %v", got, err)
	}
	// A tick of tag 23 (wall, caught up, lag, quiet) reads with no
	// declared end.
	if got, err := (LoopCodec{}).Decode([]byte{23, encodingVersion, 0x90, 0x07, 1, 1, 0, 0x88, 0x27}); err != nil ||
		!reflect.DeepEqual(got, Tick{Wall: 456, CaughtUp: true, LagKnown: true, QuietMs: 2500}) {
		t.Fatalf("tick of tag 23: %+v %v", got, err)
	}
	// A close request of the two-stage pipeline (tag 20), an unknown tag
	// and an empty record are skipped, never an error that stops a stage.
	for _, b := range [][]byte{{20, 1, 2, 2}, {99}, nil} {
		if got, err := (LoopCodec{}).Decode(b); err != nil || got != (Ignored{Tag: firstByte(b)}) {
			t.Fatalf("loop record %v: %v %v", b, got, err)
		}
	}
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func TestPartitionMetaRoundTrip(t *testing.T) {
	row := windows.Row{Start: 0, End: 5 * minute, Rev: 1, Entries: 3, Exits: 2, Desc: "REGULAR", EmittedAt: 7}
	for _, m := range []*PartitionMeta{
		NewPartitionMeta(3),
		{StreamTime: 5, HasTime: true, LastTick: 7, LastInput: 11,
			Sources: watermark.Merge{N: 3, Sources: map[int32]watermark.Mark{
				2: {Time: 70, Has: true}, 0: {Time: 50, Has: true, Idle: true}, 1: {Idle: true}}},
			Closes:   []windows.ClosedRow{{Key: "59 ST|NQR456W|A002|R051|02-00-00", Division: "BMT", Row: row}},
			Stations: []windows.ClosedRow{{Key: "59 ST|NQR456W", Division: "BMT", Row: windows.Row{Start: 0, End: 5 * minute, Rev: 1, Entries: 3, Exits: 2, Devices: 1}}}},
	} {
		b := EncodeMeta(m)
		got, err := DecodeMeta(b)
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("meta round trip: %+v %v, want %+v", got, err, m)
		}
		for i := range b {
			if _, err := DecodeMeta(b[:i]); err == nil {
				t.Fatalf("truncated to %d bytes decoded", i)
			}
		}
	}
	if _, err := DecodeMeta([]byte{TagPartition, 3}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a two-stage metadata layout decoded: %v", err)
	}
}

func TestMarkRoundTrip(t *testing.T) {
	for _, m := range []*Mark{
		{Source: 4, Time: 1704500000000, HasTime: true},
		{Source: 1, Idle: true},
		{Source: 0, Time: 9, HasTime: true, Idle: true},
	} {
		b, err := ReadingCodec{}.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := (ReadingCodec{}).Decode(b); err != nil || !reflect.DeepEqual(v, m) {
			t.Fatalf("round trip: %+v %v", v, err)
		}
	}
}
