package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/turnstile-streams/turnstile/windows"
)

// Table values start with a tag byte saying what they are.
const (
	TagDevice    byte = 1 // a device's windows (windows.Device)
	TagPartition byte = 2 // a partition's metadata (PartitionMeta)
	TagStation   byte = 3 // a station's windows (windows.Station)
)

// encodingVersion is written after the tag; bump it when a layout changes
// and keep decoding the old one.
const encodingVersion byte = 1

var ErrCorrupt = errors.New("wire: corrupt value")

// enc appends the primitives of our value layouts.
type enc struct{ b []byte }

func (e *enc) byte(v byte)      { e.b = append(e.b, v) }
func (e *enc) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) u64(v uint64)     { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) bytes(v []byte)   { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) str(v string)     { e.uvarint(uint64(len(v))); e.b = append(e.b, v...) }
func (e *enc) bool(v bool) {
	if v {
		e.byte(1)
	} else {
		e.byte(0)
	}
}

// dec reads them back; the first error sticks and zero values follow.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.b = nil
}

func (d *dec) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) u64() uint64 {
	if len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// count reads a length and checks it against what is left, so a corrupt
// value cannot make us allocate gigabytes.
func (d *dec) count(minSize int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/max(minSize, 1)+1) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) bytes() []byte {
	n := d.count(1)
	if d.err != nil || n > len(d.b) {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string { return string(d.bytes()) }
func (d *dec) bool() bool  { return d.byte() != 0 }

func (d *dec) header(tag byte) {
	if got := d.byte(); got != tag && d.err == nil {
		d.err = fmt.Errorf("wire: table value has tag %d, want %d", got, tag)
	}
	if v := d.byte(); v != encodingVersion && d.err == nil {
		d.err = fmt.Errorf("wire: table value encoding version %d unknown", v)
	}
}

// Desc codes: the two values MTA uses are one byte.
const (
	descRegular byte = iota
	descRecovr
	descOther
)

func (e *enc) desc(s string) {
	switch s {
	case "REGULAR":
		e.byte(descRegular)
	case "RECOVR AUD":
		e.byte(descRecovr)
	default:
		e.byte(descOther)
		e.str(s)
	}
}

func (d *dec) desc() string {
	switch d.byte() {
	case descRegular:
		return "REGULAR"
	case descRecovr:
		return "RECOVR AUD"
	default:
		return d.str()
	}
}

// row is one published window revision (an outbox entry).
func (e *enc) row(w windows.Row) {
	e.varint(w.Start)
	e.varint(w.End - w.Start)
	e.uvarint(uint64(w.Rev))
	e.uvarint(uint64(w.Gen))
	e.varint(w.Entries)
	e.varint(w.Exits)
	e.desc(w.Desc)
	e.uvarint(uint64(w.Devices))
	e.varint(w.EmittedAt)
}

func (d *dec) row() windows.Row {
	var w windows.Row
	w.Start = d.varint()
	w.End = w.Start + d.varint()
	w.Rev = int32(d.uvarint())
	w.Gen = int32(d.uvarint())
	w.Entries = d.varint()
	w.Exits = d.varint()
	w.Desc = d.desc()
	w.Devices = int32(d.uvarint())
	w.EmittedAt = d.varint()
	return w
}

func (e *enc) outbox(o windows.Outbox) {
	e.uvarint(uint64(len(o.Windows)))
	for _, w := range o.Windows {
		e.row(w)
	}
	e.uvarint(uint64(len(o.Late)))
	for _, l := range o.Late {
		e.bytes(l)
	}
}

func (d *dec) outbox() windows.Outbox {
	var o windows.Outbox
	if n := d.count(9); n > 0 {
		o.Windows = make([]windows.Row, n)
		for i := range o.Windows {
			o.Windows[i] = d.row()
		}
	}
	if n := d.count(1); n > 0 {
		o.Late = make([][]byte, n)
		for i := range o.Late {
			o.Late[i] = d.bytes()
		}
	}
	return o
}

func (e *enc) emitted(ws windows.Revisions) {
	e.uvarint(uint64(len(ws)))
	var ps int64
	for _, w := range ws {
		e.varint(w.Start - ps)
		e.uvarint(uint64(w.Rev))
		ps = w.Start
	}
}

func (d *dec) emitted() windows.Revisions {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	ws := make(windows.Revisions, n)
	var ps int64
	for i := range ws {
		ps += d.varint()
		ws[i] = windows.Revision{Start: ps, Rev: int32(d.uvarint())}
	}
	return ws
}

// finish reports the first decoding error, or trailing bytes.
func (d *dec) finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return nil
}

// EncodeDevice writes a device state. Times and counters are delta-encoded
// against the previous reading: a retained reading costs about 15 bytes.
func EncodeDevice(s *windows.Device, buf []byte) []byte {
	e := enc{b: buf[:0]}
	e.byte(TagDevice)
	e.byte(encodingVersion)
	e.outbox(s.Outbox)
	e.str(s.Station)
	e.str(s.Line)
	e.str(s.Division)
	e.bool(s.HasClosed)
	e.varint(s.ClosedThrough)
	e.varint(s.LastReading)
	e.varint(s.LastLoop)
	e.uvarint(s.Accepted)
	e.uvarint(s.Duplicates)
	e.varint(s.Dropped)
	e.uvarint(uint64(len(s.Readings)))
	var pt, pe, px int64
	for _, r := range s.Readings {
		e.varint(r.T - pt)
		e.varint(r.Entries - pe)
		e.varint(r.Exits - px)
		e.u64(r.ID)
		e.desc(r.Desc)
		pt, pe, px = r.T, r.Entries, r.Exits
	}
	e.emitted(s.Emitted)
	return e.b
}

// DecodeDevice reads a value written by EncodeDevice; anything else is
// ErrCorrupt.
func DecodeDevice(b []byte) (*windows.Device, error) {
	d := dec{b: b}
	d.header(TagDevice)
	s := &windows.Device{}
	s.Outbox = d.outbox()
	s.Station, s.Line, s.Division = d.str(), d.str(), d.str()
	s.HasClosed = d.bool()
	s.ClosedThrough = d.varint()
	s.LastReading = d.varint()
	s.LastLoop = d.varint()
	s.Accepted = d.uvarint()
	s.Duplicates = d.uvarint()
	s.Dropped = d.varint()
	if n := d.count(11); n > 0 {
		s.Readings = make([]windows.Reading, n)
		var pt, pe, px int64
		for i := range s.Readings {
			pt += d.varint()
			pe += d.varint()
			px += d.varint()
			s.Readings[i] = windows.Reading{T: pt, Entries: pe, Exits: px, ID: d.u64(), Desc: d.desc()}
		}
	}
	s.Emitted = d.emitted()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return s, nil
}

// Head is what the relays need of a table value: the outbox at its front
// and the strings that follow it (station, line and division for a device;
// division for a station), without decoding the rest of the state.
type Head struct {
	Outbox  windows.Outbox
	Strings [3]string
}

// PendingHead decodes the head of a changelog value of a table whose
// values have tag want, when it has an outbox to publish (tombstones,
// partition metadata and empty outboxes have none).
func PendingHead(value []byte, want byte) (Head, bool, error) {
	var h Head
	if value == nil || len(value) > 0 && value[0] == TagPartition {
		return h, false, nil
	}
	if len(value) < 2 {
		return h, false, fmt.Errorf("wire: %w: short table value", ErrCorrupt)
	}
	if tag := value[0]; tag != want {
		return h, false, fmt.Errorf("wire: %w: tag %d in a table of tag %d", ErrCorrupt, tag, want)
	}
	d := dec{b: value}
	d.header(want)
	h.Outbox = d.outbox()
	if d.err != nil || h.Outbox.Empty() {
		return h, false, d.err
	}
	n := 1
	if want == TagDevice {
		n = 3
	}
	for i := range n {
		h.Strings[i] = d.str()
	}
	return h, d.err == nil, d.err
}
