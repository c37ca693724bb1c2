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
	d.header(tagReading)
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

// Loopback messages drive closing: a close tells one key to close its
// windows through a stream time; a tick, sent to a partition's control key,
// brings the wall clock for idle partitions.
type Close struct {
	Through int64 // watermark: close windows with END+grace <= Through
}

// Tick is sent to a partition's control key by the ticker: the wall
// clock, and whether the group has caught up with the partition's input.
type Tick struct {
	Wall     int64 // Unix ms
	CaughtUp bool  // the group has no lag on this partition's input
}

const (
	tagClose byte = 20
	tagTick  byte = 21
)

// LoopCodec is the goka codec of a windowed group's loopback topic.
type LoopCodec struct{}

// Encode writes a Close or a Tick.
func (LoopCodec) Encode(v any) ([]byte, error) {
	e := enc{}
	switch m := v.(type) {
	case Close:
		e.byte(tagClose)
		e.byte(encodingVersion)
		e.varint(m.Through)
		e.varint(m.Through) // was the data time; members of older versions read it
	case Tick:
		e.byte(tagTick)
		e.byte(encodingVersion)
		e.varint(m.Wall)
		e.bool(m.CaughtUp)
	default:
		return nil, fmt.Errorf("wire: LoopCodec cannot encode %T", v)
	}
	return e.b, nil
}

// Decode reads a Close or a Tick.
func (LoopCodec) Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("wire: loop message: %w: empty", ErrCorrupt)
	}
	d := dec{b: b}
	var v any
	switch b[0] {
	case tagClose:
		d.header(tagClose)
		v = Close{Through: d.varint()}
		d.varint() // the old data time, ignored
	case tagTick:
		d.header(tagTick)
		v = Tick{Wall: d.varint(), CaughtUp: d.bool()}
	default:
		return nil, fmt.Errorf("wire: loop message: %w: tag %d", ErrCorrupt, b[0])
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("wire: loop message: %w", ErrCorrupt)
	}
	return v, nil
}

// PartitionMeta is the table value under a partition's control key: the
// partition's event-time progress, durable in the changelog so that a
// restart or a new owner continues from exactly the decisions made.
//   - Sources is what the partition heard from its upstream partitions
//     (a device partition: the ingest stage's input partitions; a station
//     partition: the device partitions), merged by watermark.Merge.
//     LastInput is the offset of the last mark applied, so a redelivered
//     mark is skipped.
//   - StreamTime (when HasTime) is the partition's watermark: windows with
//     END + grace <= StreamTime are closed. It is the merge of Sources, or
//     an idle advance once every source is idle, and never goes back.
//   - Closed (device partitions, when HasClosed) is how far the partition
//     has published its closes: every window with END + grace <= Closed
//     is on the outbox path. The write that advances it sets Mark, and the
//     device relay passes it on to every station partition as a Mark.
//     Mark is transient, like a state's outbox: other writes clear it.
//   - LastTick is the offset of the last tick applied.
//   - Closes (device partitions) is the outbox of the write that advanced
//     StreamTime: the first revision of every window that advance closed,
//     for every key of the partition, in the same record as the watermark
//     (so the two are durable together, and the relay publishes the rows
//     before it passes Closed on). Transient, like Mark.
//   - Inline says the partition closes its windows in the control key's
//     writes (layout 3); a partition written by the loopback design still
//     has closes in flight on its loop topic, which its first sweep
//     publishes.
type PartitionMeta struct {
	StreamTime int64
	HasTime    bool
	LastTick   int64
	LastInput  int64
	Closed     int64
	HasClosed  bool
	Mark       bool
	Sources    watermark.Merge
	Closes     []ClosedRow
	Inline     bool
}

// ClosedRow is one window a device partition's watermark closed: the
// device key, its identity strings and the row.
type ClosedRow struct {
	Key                     string
	Station, Line, Division string
	Row                     windows.Row
}

// NewPartitionMeta is the metadata of a partition that has applied
// nothing yet, merging the marks of sources upstream partitions.
func NewPartitionMeta(sources int) *PartitionMeta {
	return &PartitionMeta{LastTick: -1, LastInput: -1, Sources: watermark.Merge{N: sources}}
}

// Partition metadata layouts: 1 (before watermarks through the graph:
// stream time, last tick, data time, station sources, mark) and 2 (before
// closes in the control key's writes: no closes, not inline) are still
// read.
const (
	metaVersion   byte = 3
	metaVersionV2 byte = 2
)

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

// EncodeMeta writes m in the current layout.
func EncodeMeta(m *PartitionMeta) []byte {
	e := enc{}
	e.byte(TagPartition)
	e.byte(metaVersion)
	e.bool(m.HasTime)
	e.varint(m.StreamTime)
	e.varint(m.LastTick)
	e.varint(m.LastInput)
	e.bool(m.HasClosed)
	e.varint(m.Closed)
	e.bool(m.Mark)
	e.uvarint(uint64(m.Sources.N))
	srcs := m.Sources.Sorted()
	e.uvarint(uint64(len(srcs)))
	for _, p := range srcs {
		mk := m.Sources.Sources[p]
		e.uvarint(uint64(p))
		e.varint(mk.Time)
		e.byte(markFlags(mk))
	}
	e.bool(m.Inline)
	e.uvarint(uint64(len(m.Closes)))
	for _, c := range m.Closes {
		e.str(c.Key)
		e.str(c.Station)
		e.str(c.Line)
		e.str(c.Division)
		e.row(c.Row)
	}
	return e.b
}

// DecodeMeta reads any partition metadata layout still in use (1–3).
func DecodeMeta(b []byte) (*PartitionMeta, error) {
	if len(b) >= 2 && b[0] == TagPartition && b[1] == encodingVersion {
		return decodeMetaV1(b)
	}
	d := dec{b: b}
	if d.byte() != TagPartition {
		return nil, fmt.Errorf("wire: partition meta: %w: header", ErrCorrupt)
	}
	version := d.byte()
	if version != metaVersion && version != metaVersionV2 {
		return nil, fmt.Errorf("wire: partition meta: %w: layout %d", ErrCorrupt, version)
	}
	m := &PartitionMeta{HasTime: d.bool(), StreamTime: d.varint(), LastTick: d.varint(), LastInput: d.varint(),
		HasClosed: d.bool(), Closed: d.varint(), Mark: d.bool()}
	m.Sources.N = int(d.uvarint())
	if n := d.count(3); n > 0 {
		m.Sources.Sources = make(map[int32]watermark.Mark, n)
		for range n {
			p := int32(d.uvarint())
			t := d.varint()
			m.Sources.Sources[p] = flagsMark(t, d.byte())
		}
	}
	if version == metaVersion {
		m.Inline = d.bool()
		if n := d.count(13); n > 0 {
			m.Closes = make([]ClosedRow, n)
			for i := range m.Closes {
				c := &m.Closes[i]
				c.Key, c.Station, c.Line, c.Division = d.str(), d.str(), d.str(), d.str()
				c.Row = d.row()
			}
		}
	}
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("wire: partition meta: %w", err)
	}
	return m, nil
}

// decodeMetaV1 reads the layout written before watermarks went through the
// whole graph: its stream time was an idle advance (or 0), its data time
// what a device partition had told the station stage, its sources the
// station partition's device marks.
func decodeMetaV1(b []byte) (*PartitionMeta, error) {
	d := dec{b: b}
	d.header(TagPartition)
	m := &PartitionMeta{StreamTime: d.varint(), LastTick: d.varint(), LastInput: -1}
	m.HasTime = m.StreamTime != 0
	if len(d.b) > 0 {
		if dt := d.varint(); dt != 0 {
			m.Closed, m.HasClosed = dt, true
		}
		if n := d.count(2); n > 0 {
			m.Sources.Sources = make(map[int32]watermark.Mark, n)
			for range n {
				p := int32(d.uvarint())
				m.Sources.Sources[p] = watermark.Mark{Time: d.varint(), Has: true}
			}
		}
		if len(d.b) > 0 {
			m.Mark = d.bool()
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("wire: partition meta: %w", ErrCorrupt)
	}
	return m, nil
}

// Mark is an upstream partition's event-time progress, sent in band
// after the records it covers to a partition's control key:
//   - on the readings topic, from the ingest stage: input partition Source
//     has accepted readings up to event time Time (or is idle);
//   - on the station-updates topic, from the device relay: device partition
//     Source has published every window with END + grace <= Time.
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

// Record tags in use: 10 reading, 11 device row, 12 mark, 13 device rows,
// 20 close, 21 tick (table values: 1 device, 2 partition, 3 station).
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

// DecodeMark reads a mark, including one written before idleness.
func DecodeMark(b []byte) (*Mark, error) {
	d := dec{b: b}
	d.header(tagMark)
	m := &Mark{Source: int32(d.uvarint()), Time: d.varint(), HasTime: true}
	if len(d.b) > 0 { // absent in marks written before idleness
		mk := flagsMark(m.Time, d.byte())
		m.HasTime, m.Idle = mk.Has, mk.Idle
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("wire: mark: %w", ErrCorrupt)
	}
	return m, nil
}
