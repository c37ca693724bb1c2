package processors

import (
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// Reading is a validated reading on the internal, device-keyed readings
// topic: the Avro record's fields plus its event time, in a compact binary
// encoding (the topic is ours alone; external topics stay Avro).
type Reading struct {
	schemas.Reading
	T int64 // event time, Unix ms
}

const tagReading byte = 10

func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

func encodeReading(r *Reading, buf []byte) []byte {
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

func decodeReading(b []byte) (*Reading, error) {
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
		return nil, fmt.Errorf("processors: reading: %w", d.err)
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("processors: reading: %w: trailing bytes", errCorrupt)
	}
	return r, nil
}

// ReadingCodec is the goka codec of the internal readings topic.
type ReadingCodec struct{}

func (ReadingCodec) Encode(v any) ([]byte, error) {
	r, ok := v.(*Reading)
	if !ok {
		return nil, fmt.Errorf("processors: ReadingCodec cannot encode %T", v)
	}
	return encodeReading(r, nil), nil
}

func (ReadingCodec) Decode(b []byte) (any, error) { return decodeReading(b) }

// Loopback messages drive closing: a close tells one key to close its
// windows through a stream time; a tick, sent to a partition's control key,
// brings the wall clock for idle partitions.
type closeMsg struct {
	Through int64 // stream time: close windows with END+grace <= Through
	Data    int64 // the partition's data time (no idle advance), for retention
}

type tickMsg struct {
	Wall     int64 // Unix ms
	CaughtUp bool  // the group has no lag on this partition's input
}

const (
	tagClose byte = 20
	tagTick  byte = 21
)

// LoopCodec is the goka codec of a windowed group's loopback topic.
type LoopCodec struct{}

func (LoopCodec) Encode(v any) ([]byte, error) {
	e := enc{}
	switch m := v.(type) {
	case closeMsg:
		e.byte(tagClose)
		e.byte(encodingVersion)
		e.varint(m.Through)
		e.varint(m.Data)
	case tickMsg:
		e.byte(tagTick)
		e.byte(encodingVersion)
		e.varint(m.Wall)
		e.bool(m.CaughtUp)
	default:
		return nil, fmt.Errorf("processors: LoopCodec cannot encode %T", v)
	}
	return e.b, nil
}

func (LoopCodec) Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("processors: loop message: %w: empty", errCorrupt)
	}
	d := dec{b: b}
	var v any
	switch b[0] {
	case tagClose:
		d.header(tagClose)
		v = closeMsg{Through: d.varint(), Data: d.varint()}
	case tagTick:
		d.header(tagTick)
		v = tickMsg{Wall: d.varint(), CaughtUp: d.bool()}
	default:
		return nil, fmt.Errorf("processors: loop message: %w: tag %d", errCorrupt, b[0])
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("processors: loop message: %w", errCorrupt)
	}
	return v, nil
}

// partitionMeta is the table value under a partition's control key: the
// stream time it reached through idle ticks (stream time otherwise follows
// from the keys' own state), the last tick applied, and the partition's
// watermark bookkeeping:
//   - device partitions record the data time they reached (DataTime); the
//     write that advances it sets Mark, and the device relay passes it on
//     to every station partition as a markMsg. Mark is transient, like a
//     state's outbox: other writes (idle advances of StreamTime, every
//     tick once a partition idles) clear it, so marks flow only while data
//     does, and a station partition's input can be caught up (no lag)
//     while device partitions idle;
//   - station partitions record the latest mark of every device partition
//     (Sources); their data time is the smallest, once all have reported.
type partitionMeta struct {
	StreamTime int64
	LastTick   int64
	DataTime   int64
	Sources    map[int32]int64
	Mark       bool
}

func encodeMeta(m *partitionMeta) []byte {
	e := enc{}
	e.byte(tagPartition)
	e.byte(encodingVersion)
	e.varint(m.StreamTime)
	e.varint(m.LastTick)
	e.varint(m.DataTime)
	srcs := keys(m.Sources)
	slices.Sort(srcs)
	e.uvarint(uint64(len(srcs)))
	for _, p := range srcs {
		e.uvarint(uint64(p))
		e.varint(m.Sources[p])
	}
	e.bool(m.Mark)
	return e.b
}

func decodeMeta(b []byte) (*partitionMeta, error) {
	d := dec{b: b}
	d.header(tagPartition)
	m := &partitionMeta{StreamTime: d.varint(), LastTick: d.varint()}
	if len(d.b) > 0 { // absent in values written before watermarks
		m.DataTime = d.varint()
		if n := d.count(2); n > 0 {
			m.Sources = make(map[int32]int64, n)
			for range n {
				p := int32(d.uvarint())
				m.Sources[p] = d.varint()
			}
		}
		if len(d.b) > 0 { // absent in values written before Mark
			m.Mark = d.bool()
		}
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("processors: partition meta: %w", errCorrupt)
	}
	return m, nil
}

// markMsg, on the station-updates topic under a station partition's control
// key, says that device partition Source has processed input up to data
// time Time: every device window revision it publishes later is of a window
// within its retention of Time.
type markMsg struct {
	Source int32
	Time   int64
}

const tagMark byte = 12

func encodeMark(m *markMsg) []byte {
	e := enc{}
	e.byte(tagMark)
	e.byte(encodingVersion)
	e.uvarint(uint64(m.Source))
	e.varint(m.Time)
	return e.b
}

func decodeMark(b []byte) (*markMsg, error) {
	d := dec{b: b}
	d.header(tagMark)
	m := &markMsg{Source: int32(d.uvarint()), Time: d.varint()}
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("processors: mark: %w", errCorrupt)
	}
	return m, nil
}

// controlKeys returns, for each partition, a key that goka's partitioner
// (FNV-1a, as sarama's hash partitioner) places on that partition. Ticks
// are sent to it and the partition's metadata is stored under it. Device
// keys contain '|' and station keys too, so "~partition~" keys never clash.
func controlKeys(partitions int) []string {
	keys := make([]string, partitions)
	found := 0
	for i := 0; found < partitions; i++ {
		k := fmt.Sprintf("~partition~%d", i)
		p := partitionOf(k, partitions)
		if keys[p] == "" {
			keys[p] = k
			found++
		}
	}
	return keys
}

// partitionOf is goka's key to partition mapping.
func partitionOf(key string, partitions int) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	v := int32(h.Sum32())
	if v < 0 {
		v = -v
	}
	return v % int32(partitions)
}
