package wire

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/watermark"
	"github.com/turnstile-streams/turnstile/windows"
)

// Reading is a validated reading on the internal, device-keyed readings
// topic: the Avro record's fields plus its event time, in a compact binary
// encoding (the topic is ours alone; external topics stay Avro).
type Reading struct {
	schemas.Reading
	T int64 // event time, Unix ms
}

const tagReading byte = 10

// IDHash is the 64-bit FNV-1a hash of a reading's ID that device state
// keeps for duplicate detection.
func IDHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// EncodeReading writes r in the readings topic's layout, reusing buf.
func EncodeReading(r *Reading, buf []byte) []byte {
	e := enc{b: buf[:0]}
	e.byte(tagReading)
	e.byte(encodingVersion)
	for _, s := range []string{r.CA, r.Unit, r.SCP, r.Station, r.LineName, r.Division, r.Date, r.Time, r.Desc, r.ID, r.Timestamp, r.Source} {
		e.str(s)
	}
	e.varint(r.Entries)
	e.varint(r.Exits)
	e.varint(r.T)
	var et int64
	if !r.EventTime.IsZero() {
		et = r.EventTime.UnixMilli()
	}
	e.varint(et)
	return e.b
}

// DecodeReading reads a value written by EncodeReading.
func DecodeReading(b []byte) (*Reading, error) {
	d := dec{b: b}
	d.header(tagReading, encodingVersion)
	r := &Reading{}
	for _, p := range []*string{&r.CA, &r.Unit, &r.SCP, &r.Station, &r.LineName, &r.Division, &r.Date, &r.Time, &r.Desc, &r.ID, &r.Timestamp, &r.Source} {
		*p = d.str()
	}
	r.Entries = d.varint()
	r.Exits = d.varint()
	r.T = d.varint()
	if et := d.varint(); et != 0 {
		r.EventTime = time.UnixMilli(et).UTC()
	}
	if d.err != nil {
		return nil, fmt.Errorf("wire: reading: %w", d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("wire: reading: %w: trailing bytes", ErrCorrupt)
	}
	return r, nil
}

// ReadingCodec is the goka codec of the internal readings topic.
type ReadingCodec struct{}

// It carries readings (*Reading) and the ingest stage's source marks
// (*Mark).
func (ReadingCodec) Encode(v any) ([]byte, error) {
	switch m := v.(type) {
	case *Reading:
		return EncodeReading(m, nil), nil
	case *Mark:
		return EncodeMark(m), nil
	}
	return nil, fmt.Errorf("wire: ReadingCodec cannot encode %T", v)
}

// Decode reads a reading or a mark.
func (ReadingCodec) Decode(b []byte) (any, error) {
	if len(b) > 0 && b[0] == tagMark {
		return DecodeMark(b)
	}
	return DecodeReading(b)
}

// Tick is sent to a partition's control key on the windowed stage's
// loopback topic by the ticker: the wall clock, whether the group has
// caught up with the partition's input, and which input partitions (the
// sources of the watermark) had unconsumed input when it was measured
// (watermark.Gate). The stage also sends one to itself (a nudge, so as not
// to wait for the ticker): its wall clock alone, LagKnown false.
type Tick struct {
	Wall     int64 // Unix ms, when the ticker measured the lag
	CaughtUp bool  // the group has no lag on this partition's input
	// LagKnown says the ticker measured the sources' lag; Lagging lists
	// those with unconsumed input, in ascending order.
	LagKnown bool
	Lagging  []int32
	// QuietMs is how long this partition's input log has not grown, as the
	// ticker saw it (0: unknown): a caught-up source quiet for the idle
	// timeout is idle without waiting the timeout after its last record.
	QuietMs int64
	// EndsAt is where this partition's input ends when a producer
	// declared its end there and the log's end was still that offset
	// when the ticker listed it (0: no such end): a source that has read
	// up to it is idle at once, without waiting for its group's commit.
	EndsAt int64
}

// Ignored is a loopback record this version does not act on: a close
// request the two-stage pipeline wrote (tag 20), which an upgrade may leave
// on the topic, or a tag it does not know. The stage skips it, so a stray
// record cannot stop a partition.
type Ignored struct{ Tag byte }

// Tick tags: tagTickV1 is the tick without the sources' lag, tagTickV2
// the tick without QuietMs, tagTickV3 the tick without EndsAt (all read,
// never written); tagTick carries every field. A new tag rather than a new
// version, so a member of a version before reads a newer tick as Ignored
// instead of failing on it during a rolling upgrade (it then idles its
// sources by its own clock only).
const (
	tagTickV1 byte = 21
	tagTickV2 byte = 22
	tagTickV3 byte = 23
	tagTick   byte = 24
)

// LoopCodec is the goka codec of the windowed stage's loopback topic.
type LoopCodec struct{}

// Encode writes a Tick.
func (LoopCodec) Encode(v any) ([]byte, error) {
	m, ok := v.(Tick)
	if !ok {
		return nil, fmt.Errorf("wire: LoopCodec cannot encode %T", v)
	}
	e := enc{}
	e.byte(tagTick)
	e.byte(encodingVersion)
	e.varint(m.Wall)
	e.bool(m.CaughtUp)
	e.bool(m.LagKnown)
	e.uvarint(uint64(len(m.Lagging)))
	for _, p := range m.Lagging {
		e.varint(int64(p))
	}
	e.varint(m.QuietMs)
	e.varint(m.EndsAt)
	return e.b, nil
}

// Decode reads a Tick; any other record is Ignored.
func (LoopCodec) Decode(b []byte) (any, error) {
	if len(b) == 0 || b[0] < tagTickV1 || b[0] > tagTick {
		var tag byte
		if len(b) > 0 {
			tag = b[0]
		}
		return Ignored{Tag: tag}, nil
	}
	d := dec{b: b}
	d.header(b[0], encodingVersion)
	v := Tick{Wall: d.varint(), CaughtUp: d.bool()}
	if b[0] != tagTickV1 {
		v.LagKnown = d.bool()
		if n := d.count(1); n > 0 {
			v.Lagging = make([]int32, n)
			for i := range v.Lagging {
				v.Lagging[i] = int32(d.varint())
			}
		}
	}
	if b[0] >= tagTickV3 {
		v.QuietMs = d.varint()
	}
	if b[0] == tagTick {
		v.EndsAt = d.varint()
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("wire: tick: %w", err)
	}
	return v, nil
}

// PartitionMeta is the table value under a partition's control key: the
// partition's event-time progress, durable in the changelog so that a
// restart or a new owner continues from exactly the decisions made.
//   - Sources is what the partition heard from its upstream partitions (the
//     input partitions, each a watermark source), merged by
//     watermark.Merge. LastInput is the offset of the last mark applied
//     on the readings topic, so a redelivered mark is skipped.
//   - StreamTime (when HasTime) is the partition's watermark: windows with
//     END + grace <= StreamTime are closed. It is the merge of Sources, or
//     an idle advance once every source is idle, and never goes back.
//   - LastTick is the offset of the last tick applied.
//   - Closes is the outbox of the write that advanced StreamTime: the first
//     revision of every device window that advance closed, for every device
//     of the partition (Key: the device's reading key), and Stations the
//     first revision of every station window they complete
//     (windows.RollUp; Key: the station key), in the same record as the
//     watermark, so the three are durable together. Transient, like a
//     device's outbox: the next write replaces them.
type PartitionMeta struct {
	StreamTime int64
	HasTime    bool
	LastTick   int64
	LastInput  int64
	Sources    watermark.Merge
	Closes     []windows.ClosedRow
	Stations   []windows.ClosedRow
}

// NewPartitionMeta is the metadata of a partition that has applied
// nothing yet, merging the marks of sources upstream partitions.
func NewPartitionMeta(sources int) *PartitionMeta {
	return &PartitionMeta{LastTick: -1, LastInput: -1, Sources: watermark.Merge{N: sources}}
}

// metaVersion is the layout of partition metadata: 4 since one windowed
// stage. Layouts 1-3 are the two-stage pipeline's; see [CheckLayout].
const metaVersion byte = 4

const (
	markHasTime byte = 1 << iota
	markIdle
)

func markFlags(m watermark.Mark) byte {
	var f byte
	if m.Has {
		f |= markHasTime
	}
	if m.Idle {
		f |= markIdle
	}
	return f
}

func flagsMark(t int64, f byte) watermark.Mark {
	return watermark.Mark{Time: t, Has: f&markHasTime != 0, Idle: f&markIdle != 0}
}

func (e *enc) closed(rs []windows.ClosedRow) {
	e.uvarint(uint64(len(rs)))
	for _, c := range rs {
		e.str(c.Key)
		e.str(c.Division)
		e.row(c.Row)
	}
}

func (d *dec) closed() []windows.ClosedRow {
	n := d.count(11)
	if n == 0 {
		return nil
	}
	rs := make([]windows.ClosedRow, n)
	for i := range rs {
		rs[i] = windows.ClosedRow{Key: d.str(), Division: d.str(), Row: d.row()}
	}
	return rs
}

// EncodeMeta writes m.
func EncodeMeta(m *PartitionMeta) []byte {
	e := enc{}
	e.byte(TagPartition)
	e.byte(metaVersion)
	e.bool(m.HasTime)
	e.varint(m.StreamTime)
	e.varint(m.LastTick)
	e.varint(m.LastInput)
	e.uvarint(uint64(m.Sources.N))
	srcs := m.Sources.Sorted()
	e.uvarint(uint64(len(srcs)))
	for _, p := range srcs {
		mk := m.Sources.Sources[p]
		e.uvarint(uint64(p))
		e.varint(mk.Time)
		e.byte(markFlags(mk))
	}
	e.closed(m.Closes)
	e.closed(m.Stations)
	return e.b
}

// DecodeMeta reads a value written by EncodeMeta.
func DecodeMeta(b []byte) (*PartitionMeta, error) {
	d := dec{b: b}
	d.header(TagPartition, metaVersion)
	m := &PartitionMeta{HasTime: d.bool(), StreamTime: d.varint(), LastTick: d.varint(), LastInput: d.varint()}
	m.Sources.N = int(d.uvarint())
	if n := d.count(3); n > 0 {
		m.Sources.Sources = make(map[int32]watermark.Mark, n)
		for range n {
			p := int32(d.uvarint())
			t := d.varint()
			m.Sources.Sources[p] = flagsMark(t, d.byte())
		}
	}
	m.Closes = d.closed()
	m.Stations = d.closed()
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("wire: partition meta: %w", err)
	}
	return m, nil
}

// Mark is an input partition's event-time progress, sent in band on the
// readings topic after the readings it covers, to every partition's
// control key: input partition Source has accepted readings up to event
// time Time (or is idle).
type Mark struct {
	Source  int32
	Time    int64
	HasTime bool
	Idle    bool
}

// Watermark is the mark as watermark.Merge takes it.
func (m *Mark) Watermark() watermark.Mark {
	return watermark.Mark{Time: m.Time, Has: m.HasTime, Idle: m.Idle}
}

const tagMark byte = 12

// EncodeMark writes m in the marks' layout.
func EncodeMark(m *Mark) []byte {
	e := enc{}
	e.byte(tagMark)
	e.byte(encodingVersion)
	e.uvarint(uint64(m.Source))
	e.varint(m.Time)
	e.byte(markFlags(m.Watermark()))
	return e.b
}

// DecodeMark reads a mark.
func DecodeMark(b []byte) (*Mark, error) {
	d := dec{b: b}
	d.header(tagMark, encodingVersion)
	m := &Mark{Source: int32(d.uvarint()), Time: d.varint()}
	mk := flagsMark(m.Time, d.byte())
	m.HasTime, m.Idle = mk.Has, mk.Idle
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("wire: mark: %w", err)
	}
	return m, nil
}
