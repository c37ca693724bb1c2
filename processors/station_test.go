package processors

import (
	"reflect"
	"testing"
)

func TestStationRollup(t *testing.T) {
	sem := testSem(Cumulative)
	s := newStationState()
	row := func(dev string, startMin int64, e, x int64, rev int32) *deviceRow {
		return &deviceRow{Device: dev, Station: "59 ST", Line: "NQR456W", Division: "BMT",
			Start: startMin * minute, End: (startMin + 5) * minute, Entries: e, Exits: x, Rev: rev}
	}
	var pub []WindowRow
	take := func() { pub = append(pub, s.Outbox.Windows...); s.Outbox = outbox{} }

	s.apply(sem, row("A", 0, 10, 1, 1), stamp{})
	s.apply(sem, row("B", 0, 5, 2, 1), stamp{})
	s.apply(sem, row("B", 0, 5, 2, 1), stamp{}) // redelivered: ignored
	take()
	if len(pub) != 0 {
		t.Fatalf("published before close: %+v", pub)
	}
	if at, ok := s.nextClose(sem); !ok || at != 10*minute {
		t.Fatalf("nextClose = %d %v", at, ok)
	}
	s.close(sem, 10*minute, stamp{})
	take()
	want := []WindowRow{{Start: 0, End: 5 * minute, Rev: 1, Entries: 15, Exits: 3, Devices: 2}}
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("got %+v want %+v", pub, want)
	}
	// A correction of device B (revision 2) corrects the station window.
	s.apply(sem, row("B", 0, 7, 2, 2), stamp{})
	// An older revision arriving late changes nothing.
	s.apply(sem, row("B", 0, 6, 2, 1), stamp{})
	take()
	want = append(want, WindowRow{Start: 0, End: 5 * minute, Rev: 2, Entries: 17, Exits: 3, Devices: 2})
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("got %+v want %+v", pub, want)
	}
	if s.Stale != 2 || s.Accepted != 3 || s.Expired != 0 {
		t.Fatalf("stale %d accepted %d", s.Stale, s.Accepted)
	}
	// An idle close far ahead (wall clock) must not make later revisions
	// of recent windows expire: they still count as corrections.
	s.close(sem, 1000*60*minute, stamp{})
	take()
	s.apply(sem, row("C", 0, 1, 1, 1), stamp{})
	take()
	want = append(want, WindowRow{Start: 0, End: 5 * minute, Rev: 3, Entries: 18, Exits: 4, Devices: 3})
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("after idle close: got %+v want %+v", pub, want)
	}
	// A device joining a closed window with zero counts (its first reading
	// in cumulative mode) changes DEVICES only: that is a correction too.
	s.apply(sem, row("D", 0, 0, 0, 1), stamp{})
	take()
	want = append(want, WindowRow{Start: 0, End: 5 * minute, Rev: 4, Entries: 18, Exits: 4, Devices: 4})
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("zero-count device: got %+v want %+v", pub, want)
	}
	b := encodeStation(s, nil)
	got, err := decodeStation(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, s)
	}
	for i := range b {
		if _, err := decodeStation(b[:i]); err == nil {
			t.Fatalf("truncated station value (%d bytes) decoded", i)
		}
	}
}

func TestRecordCodecsRoundTrip(t *testing.T) {
	r := &Reading{T: 1704000000000}
	r.CA, r.Unit, r.SCP, r.Station, r.ID, r.Entries = "A002", "R051", "02-00-00", "59 ST", "id-1", 42
	got, err := ReadingCodec{}.Decode(encodeReading(r, nil))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("reading: %+v %v", got, err)
	}
	for _, m := range []any{closeMsg{Through: 123, Data: 100}, tickMsg{Wall: 456, CaughtUp: true}} {
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

func TestControlKeysLandOnTheirPartition(t *testing.T) {
	for _, n := range []int{1, 3, 6, 12} {
		keys := controlKeys(n)
		for p, k := range keys {
			if got := partitionOf(k, n); got != int32(p) {
				t.Fatalf("%d partitions: key %q lands on %d, want %d", n, k, got, p)
			}
		}
	}
}

func TestWatermarkIsTheLeastSource(t *testing.T) {
	c := newPartClock(1)
	c.watermark(map[int32]int64{0: 50, 2: 70}, 3)
	if c.hasData {
		t.Fatal("a watermark before every source reported")
	}
	c.watermark(map[int32]int64{0: 50, 1: 90, 2: 70}, 3)
	if !c.hasData || c.dataTime != 50 {
		t.Fatalf("watermark %d %v, want 50", c.dataTime, c.hasData)
	}
	c.watermark(map[int32]int64{0: 40, 1: 90, 2: 70}, 3)
	if c.dataTime != 50 {
		t.Fatalf("watermark went back to %d", c.dataTime)
	}

	for _, m := range []*partitionMeta{
		{StreamTime: 5, LastTick: 7, DataTime: 9, Sources: map[int32]int64{2: 70, 0: 50}},
		{StreamTime: 5, LastTick: 7, DataTime: 9, Mark: true},
	} {
		got, err := decodeMeta(encodeMeta(m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("meta round trip: %+v %v", got, err)
		}
	}
	// Metadata written before watermarks existed still decodes.
	e := enc{}
	e.byte(tagPartition)
	e.byte(encodingVersion)
	e.varint(5)
	e.varint(7)
	if old, err := decodeMeta(e.b); err != nil || old.StreamTime != 5 || old.LastTick != 7 || old.Sources != nil {
		t.Fatalf("old meta: %+v %v", old, err)
	}
	mark := &markMsg{Source: 4, Time: 1704500000000}
	if v, err := (DeviceRowCodec{}).Decode(encodeMark(mark)); err != nil || !reflect.DeepEqual(v, mark) {
		t.Fatalf("mark round trip: %+v %v", v, err)
	}
}
