package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/turnstile-streams/turnstile/windows"
)

// Table values start with a tag byte saying what they are.
const (
	TagDevice    byte = 1 // a device's state (windows.Device)
	TagPartition byte = 2 // a partition's metadata (PartitionMeta)
)

// encodingVersion is written after the tag of the records and values whose
// layout never changed (readings, marks, ticks).
const encodingVersion byte = 1

// deviceVersion is the layout of device values: 2 since one windowed stage
// (the device's station in its key, the station's revisions in the value).
// Layout 1 is the two-stage pipeline's; see [CheckLayout].
const deviceVersion byte = 2

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

func (d *dec) header(tag, version byte) {
	if got := d.byte(); got != tag && d.err == nil {
		d.err = fmt.Errorf("wire: %w: tag %d, want %d", ErrCorrupt, got, tag)
	}
	if v := d.byte(); v != version && d.err == nil {
		d.err = fmt.Errorf("wire: %w: tag %d layout %d, want %d", ErrCorrupt, tag, v, version)
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

func (e *enc) rows(rs []windows.Row) {
	e.uvarint(uint64(len(rs)))
	for _, w := range rs {
		e.row(w)
	}
}

func (d *dec) rows() []windows.Row {
	n := d.count(9)
	if n == 0 {
		return nil
	}
	rs := make([]windows.Row, n)
	for i := range rs {
		rs[i] = d.row()
	}
	return rs
}

func (e *enc) outbox(o windows.Outbox) {
	e.rows(o.Windows)
	e.rows(o.Stations)
	e.uvarint(uint64(len(o.Late)))
	for _, l := range o.Late {
		e.bytes(l)
	}
}

func (d *dec) outbox() windows.Outbox {
	var o windows.Outbox
	o.Windows = d.rows()
	o.Stations = d.rows()
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
// The outbox and the division come first, so the relay reads what it
// publishes without decoding the rest ([PendingHead]).
func EncodeDevice(s *windows.Device, buf []byte) []byte {
	if n := deviceSize(s); cap(buf) < n {
		buf = make([]byte, 0, n) // one allocation, not a growing slice
	}
	e := enc{b: buf[:0]}
	e.byte(TagDevice)
	e.byte(deviceVersion)
	e.outbox(s.Outbox)
	e.str(s.Division)
	e.bool(s.HasClosed)
	e.varint(s.ClosedThrough)
	e.varint(s.LastInput)
	e.varint(s.LastReading)
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
	e.emitted(s.StationEmitted)
	return e.b
}

// deviceSize is about what EncodeDevice writes for s, a little more. It
// does not look at each reading (a device holds its retention's readings
// and this runs on every write): 24 bytes covers a reading with a
// REGULAR or RECOVR AUD description; another description may cost the
// buffer one growth.
func deviceSize(s *windows.Device) int {
	n := 64 + len(s.Division) + 24*len(s.Readings) + 8*(len(s.Emitted)+len(s.StationEmitted)) +
		48*(len(s.Outbox.Windows)+len(s.Outbox.Stations))
	for _, l := range s.Outbox.Late {
		n += 4 + len(l)
	}
	return n
}

// DecodeDevice reads a value written by EncodeDevice; anything else is
// ErrCorrupt.
func DecodeDevice(b []byte) (*windows.Device, error) {
	d := dec{b: b}
	d.header(TagDevice, deviceVersion)
	s := &windows.Device{}
	s.Outbox = d.outbox()
	s.Division = d.str()
	s.HasClosed = d.bool()
	s.ClosedThrough = d.varint()
	s.LastInput = d.varint()
	s.LastReading = d.varint()
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
	s.StationEmitted = d.emitted()
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("wire: device: %w", err)
	}
	return s, nil
}

// Head is what the relay needs of a device value: the outbox at its front
// and the device's division, without decoding the rest of the state.
type Head struct {
	Outbox   windows.Outbox
	Division string
}

// PendingHead decodes the head of a table changelog value when it is a
// device's with an outbox to publish (tombstones, partition metadata and
// empty outboxes have none).
func PendingHead(value []byte) (Head, bool, error) {
	var h Head
	if value == nil || len(value) > 0 && value[0] == TagPartition {
		return h, false, nil
	}
	d := dec{b: value}
	d.header(TagDevice, deviceVersion)
	h.Outbox = d.outbox()
	if d.err != nil || h.Outbox.Empty() {
		return h, false, d.err
	}
	h.Division = d.str()
	return h, d.err == nil, d.err
}
