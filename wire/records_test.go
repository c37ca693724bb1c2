package wire

import (
	"reflect"
	"testing"

	"github.com/lovoo/goka"

	"github.com/turnstile-streams/turnstile/watermark"
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
