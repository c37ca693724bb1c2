package wire

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/lovoo/goka"
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
	for _, m := range []any{Close{Through: 123}, Tick{Wall: 456, CaughtUp: true}} {
		b, err := LoopCodec{}.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := LoopCodec{}.Decode(b)
		if err != nil || got != m {
			t.Fatalf("loop %v: %v %v", m, got, err)
		}
	}
	if _, err := (LoopCodec{}).Decode([]byte{99}); err == nil {
		t.Fatal("unknown loop tag decoded")
	}
}

func TestPartitionMetaRoundTrip(t *testing.T) {
	for _, m := range []*PartitionMeta{
		NewPartitionMeta(3),
		{StreamTime: 5, HasTime: true, LastTick: 7, LastInput: 11, Closed: 4, HasClosed: true, Mark: true,
			Sources: watermark.Merge{N: 3, Sources: map[int32]watermark.Mark{
				2: {Time: 70, Has: true}, 0: {Time: 50, Has: true, Idle: true}, 1: {Idle: true}}}},
	} {
		got, err := DecodeMeta(EncodeMeta(m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("meta round trip: %+v %v, want %+v", got, err, m)
		}
	}
	// Metadata written before watermarks went through the graph still
	// decodes: the old idle advance, data time and station sources.
	for _, tc := range []struct {
		name string
		b    func(e *enc)
		want *PartitionMeta
	}{
		{"before watermarks", func(e *enc) { e.varint(5); e.varint(7) },
			&PartitionMeta{StreamTime: 5, HasTime: true, LastTick: 7, LastInput: -1}},
		{"with marks", func(e *enc) {
			e.varint(0)
			e.varint(7)
			e.varint(90)
			e.uvarint(1)
			e.uvarint(2)
			e.varint(70)
			e.bool(true)
		}, &PartitionMeta{LastTick: 7, LastInput: -1, Closed: 90, HasClosed: true, Mark: true,
			Sources: watermark.Merge{Sources: map[int32]watermark.Mark{2: {Time: 70, Has: true}}}}},
	} {
		e := enc{}
		e.byte(TagPartition)
		e.byte(encodingVersion)
		tc.b(&e)
		if got, err := DecodeMeta(e.b); err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
	if _, err := DecodeMeta([]byte{TagPartition, 9}); err == nil {
		t.Fatal("unknown meta version decoded")
	}
}

func TestMarkRoundTrip(t *testing.T) {
	for _, m := range []*Mark{
		{Source: 4, Time: 1704500000000, HasTime: true},
		{Source: 1, Idle: true},
		{Source: 0, Time: 9, HasTime: true, Idle: true},
	} {
		for _, c := range []goka.Codec{UpdatesCodec{}, ReadingCodec{}} {
			b, err := c.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			if v, err := c.Decode(b); err != nil || !reflect.DeepEqual(v, m) {
				t.Fatalf("%T round trip: %+v %v", c, v, err)
			}
		}
	}
	// A mark written before idleness (no flags byte) has a time.
	e := enc{}
	e.byte(tagMark)
	e.byte(encodingVersion)
	e.uvarint(2)
	e.varint(77)
	if m, err := DecodeMark(e.b); err != nil || *m != (Mark{Source: 2, Time: 77, HasTime: true}) {
		t.Fatalf("old mark: %+v %v", m, err)
	}
}

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

// TestTableCodec: the table codec tells the three value kinds apart by
// their tag and refuses an unknown one.
func TestTableCodec(t *testing.T) {
	for _, v := range []any{windows.NewDevice(), windows.NewStation(), NewPartitionMeta(2)} {
		b, err := TableCodec{}.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := TableCodec{}.Decode(b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("%T: %#v %v", v, got, err)
		}
	}
	for _, b := range [][]byte{nil, {42, 1}} {
		if _, err := (TableCodec{}).Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%v decoded: %v", b, err)
		}
	}
	if _, err := (TableCodec{}).Encode("x"); err == nil {
		t.Fatal("a string encoded")
	}
}
