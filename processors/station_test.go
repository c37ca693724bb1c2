package processors

import (
	"reflect"
	"testing"

	"github.com/lovoo/goka"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/watermark"
)

func TestStationRollup(t *testing.T) {
	sem := testSem(Cumulative)
	s := newStationState()
	row := func(dev string, startMin int64, e, x int64, rev int32) *deviceRow {
		return &deviceRow{Device: dev, Station: "59 ST", Line: "NQR456W", Division: "BMT",
			Start: startMin * minute, End: (startMin + 5) * minute, Entries: e, Exits: x, Rev: rev}
	}
	var pub []windowRow
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
	want := []windowRow{{Start: 0, End: 5 * minute, Rev: 1, Entries: 15, Exits: 3, Devices: 2}}
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("got %+v want %+v", pub, want)
	}
	// A correction of device B (revision 2) corrects the station window.
	s.apply(sem, row("B", 0, 7, 2, 2), stamp{})
	// An older revision arriving late changes nothing.
	s.apply(sem, row("B", 0, 6, 2, 1), stamp{})
	take()
	want = append(want, windowRow{Start: 0, End: 5 * minute, Rev: 2, Entries: 17, Exits: 3, Devices: 2})
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
	want = append(want, windowRow{Start: 0, End: 5 * minute, Rev: 3, Entries: 18, Exits: 4, Devices: 3})
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("after idle close: got %+v want %+v", pub, want)
	}
	// A device joining a closed window with zero counts (its first reading
	// in cumulative mode) changes DEVICES only: that is a correction too.
	s.apply(sem, row("D", 0, 0, 0, 1), stamp{})
	take()
	want = append(want, windowRow{Start: 0, End: 5 * minute, Rev: 4, Entries: 18, Exits: 4, Devices: 4})
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
	r := &timedReading{T: 1704000000000}
	r.CA, r.Unit, r.SCP, r.Station, r.ID, r.Entries = "A002", "R051", "02-00-00", "59 ST", "id-1", 42
	got, err := timedReadingCodec{}.Decode(encodeReading(r, nil))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("reading: %+v %v", got, err)
	}
	for _, m := range []any{closeMsg{Through: 123}, tickMsg{Wall: 456, CaughtUp: true}} {
		b, err := loopCodec{}.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := loopCodec{}.Decode(b)
		if err != nil || got != m {
			t.Fatalf("loop %v: %v %v", m, got, err)
		}
	}
	if _, err := (loopCodec{}).Decode([]byte{99}); err == nil {
		t.Fatal("unknown loop tag decoded")
	}
}

func TestControlKeysLandOnTheirPartition(t *testing.T) {
	for _, n := range []int{1, 3, 6, 12} {
		keys := controlKeys(n)
		for p, k := range keys {
			if got := schemas.Partition(k, n); got != int32(p) {
				t.Fatalf("%d partitions: key %q lands on %d, want %d", n, k, got, p)
			}
		}
	}
}

func TestPartitionMetaRoundTrip(t *testing.T) {
	for _, m := range []*partitionMeta{
		newPartitionMeta(3),
		{StreamTime: 5, HasTime: true, LastTick: 7, LastInput: 11, Closed: 4, HasClosed: true, Mark: true,
			Sources: watermark.Merge{N: 3, Sources: map[int32]watermark.Mark{
				2: {Time: 70, Has: true}, 0: {Time: 50, Has: true, Idle: true}, 1: {Idle: true}}}},
	} {
		got, err := decodeMeta(encodeMeta(m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("meta round trip: %+v %v, want %+v", got, err, m)
		}
	}
	// Metadata written before watermarks went through the graph still
	// decodes: the old idle advance, data time and station sources.
	for _, tc := range []struct {
		name string
		b    func(e *enc)
		want *partitionMeta
	}{
		{"before watermarks", func(e *enc) { e.varint(5); e.varint(7) },
			&partitionMeta{StreamTime: 5, HasTime: true, LastTick: 7, LastInput: -1}},
		{"with marks", func(e *enc) {
			e.varint(0)
			e.varint(7)
			e.varint(90)
			e.uvarint(1)
			e.uvarint(2)
			e.varint(70)
			e.bool(true)
		}, &partitionMeta{LastTick: 7, LastInput: -1, Closed: 90, HasClosed: true, Mark: true,
			Sources: watermark.Merge{Sources: map[int32]watermark.Mark{2: {Time: 70, Has: true}}}}},
	} {
		e := enc{}
		e.byte(tagPartition)
		e.byte(encodingVersion)
		tc.b(&e)
		if got, err := decodeMeta(e.b); err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: %+v %v, want %+v", tc.name, got, err, tc.want)
		}
	}
	if _, err := decodeMeta([]byte{tagPartition, 9}); err == nil {
		t.Fatal("unknown meta version decoded")
	}
}

func TestMarkRoundTrip(t *testing.T) {
	for _, m := range []*markMsg{
		{Source: 4, Time: 1704500000000, HasTime: true},
		{Source: 1, Idle: true},
		{Source: 0, Time: 9, HasTime: true, Idle: true},
	} {
		for _, c := range []goka.Codec{deviceRowCodec{}, timedReadingCodec{}} {
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
	if m, err := decodeMark(e.b); err != nil || *m != (markMsg{Source: 2, Time: 77, HasTime: true}) {
		t.Fatalf("old mark: %+v %v", m, err)
	}
}

// TestDeviceRowsRoundTrip: the station-updates codec keeps single rows,
// batches of one station window, and marks apart (each tag is distinct).
func TestDeviceRowsRoundTrip(t *testing.T) {
	r1 := &deviceRow{Device: "A|U|1", Station: "S", Line: "1", Division: "IRT", Start: 0, End: 300_000, Entries: 5, Exits: 2, Rev: 1}
	r2 := &deviceRow{Device: "A|U|2", Station: "S", Line: "1", Start: 0, End: 300_000, Entries: 7, Rev: 2, Gen: 1}
	for _, v := range []any{r1, deviceRows{r1, r2}, &markMsg{Source: 3, Time: 42, HasTime: true}} {
		b, err := deviceRowCodec{}.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := deviceRowCodec{}.Decode(b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip of %T: %#v %v", v, got, err)
		}
	}
	// One row encodes in the single-row layout.
	if b := encodeDeviceRows(deviceRows{r1}); b[0] != tagDeviceRow {
		t.Fatalf("a one-row batch has tag %d", b[0])
	}
	if _, err := decodeDeviceRows([]byte{tagDeviceRows, encodingVersion, 0}); err == nil {
		t.Fatal("an empty batch decoded")
	}
}
