package wire

import (
	"fmt"

	"github.com/turnstile-streams/turnstile/windows"
)

const (
	tagDeviceRow  byte = 11
	tagDeviceRows byte = 13
)

func encodeDeviceRow(r *windows.DeviceRow) []byte {
	e := enc{}
	e.byte(tagDeviceRow)
	e.byte(encodingVersion)
	e.deviceRow(r)
	return e.b
}

// EncodeDeviceRows encodes rows of one station window: one row in the
// single-row layout, more in the batch layout.
func EncodeDeviceRows(rs windows.DeviceRows) []byte {
	if len(rs) == 1 {
		return encodeDeviceRow(rs[0])
	}
	e := enc{}
	e.byte(tagDeviceRows)
	e.byte(encodingVersion)
	e.uvarint(uint64(len(rs)))
	for _, r := range rs {
		e.deviceRow(r)
	}
	return e.b
}

// DecodeDeviceRows reads the batch layout of EncodeDeviceRows.
func DecodeDeviceRows(b []byte) (windows.DeviceRows, error) {
	d := dec{b: b}
	d.header(tagDeviceRows)
	n := d.count(10)
	rs := make(windows.DeviceRows, n)
	for i := range rs {
		rs[i] = d.deviceRow()
	}
	if d.err != nil || len(d.b) != 0 || n == 0 {
		return nil, fmt.Errorf("wire: device rows: %w", ErrCorrupt)
	}
	return rs, nil
}

func (e *enc) deviceRow(r *windows.DeviceRow) {
	e.str(r.Device)
	e.str(r.Station)
	e.str(r.Line)
	e.str(r.Division)
	e.varint(r.Start)
	e.varint(r.End - r.Start)
	e.varint(r.Entries)
	e.varint(r.Exits)
	e.uvarint(uint64(r.Rev))
	e.uvarint(uint64(r.Gen))
}

func (d *dec) deviceRow() *windows.DeviceRow {
	r := &windows.DeviceRow{Device: d.str(), Station: d.str(), Line: d.str(), Division: d.str()}
	r.Start = d.varint()
	r.End = r.Start + d.varint()
	r.Entries, r.Exits = d.varint(), d.varint()
	r.Rev, r.Gen = int32(d.uvarint()), int32(d.uvarint())
	return r
}

func decodeDeviceRow(b []byte) (*windows.DeviceRow, error) {
	d := dec{b: b}
	d.header(tagDeviceRow)
	r := d.deviceRow()
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("wire: device row: %w", ErrCorrupt)
	}
	return r, nil
}

// UpdatesCodec is the goka codec of the station-updates topic. It
// carries device window revisions (*windows.DeviceRow, or
// windows.DeviceRows of one station window) and watermarks (*Mark).
type UpdatesCodec struct{}

// Encode writes a row, a batch of one station window or a mark.
func (UpdatesCodec) Encode(v any) ([]byte, error) {
	switch m := v.(type) {
	case *windows.DeviceRow:
		return encodeDeviceRow(m), nil
	case windows.DeviceRows:
		return EncodeDeviceRows(m), nil
	case *Mark:
		return EncodeMark(m), nil
	}
	return nil, fmt.Errorf("wire: UpdatesCodec cannot encode %T", v)
}

// Decode reads a device row (*windows.DeviceRow), a batch
// (windows.DeviceRows) or a mark (*Mark).
func (UpdatesCodec) Decode(b []byte) (any, error) {
	if len(b) > 0 && b[0] == tagMark {
		return DecodeMark(b)
	}
	if len(b) > 0 && b[0] == tagDeviceRows {
		return DecodeDeviceRows(b)
	}
	return decodeDeviceRow(b)
}

// EncodeStation writes a station state, reusing buf.
func EncodeStation(s *windows.Station, buf []byte) []byte {
	e := enc{b: buf[:0]}
	e.byte(TagStation)
	e.byte(encodingVersion)
	e.outbox(s.Outbox)
	e.str(s.Division)
	e.bool(s.HasClosed)
	e.varint(s.ClosedThrough)
	e.bool(s.HasEnd)
	e.varint(s.MaxEnd)
	e.varint(s.LastUpdate)
	e.varint(s.LastLoop)
	e.uvarint(s.Accepted)
	e.uvarint(s.Stale)
	e.uvarint(s.Expired)
	e.uvarint(uint64(len(s.Windows)))
	var ps int64
	for _, w := range s.Windows {
		e.varint(w.Start - ps)
		e.varint(w.End - w.Start)
		ps = w.Start
		e.uvarint(uint64(len(w.Rows)))
		for _, r := range w.Rows {
			e.str(r.Device)
			e.varint(r.Entries)
			e.varint(r.Exits)
			e.uvarint(uint64(r.Rev))
			e.uvarint(uint64(r.Gen))
		}
	}
	e.emitted(s.Emitted)
	return e.b
}

// DecodeStation reads a value written by EncodeStation.
func DecodeStation(b []byte) (*windows.Station, error) {
	d := dec{b: b}
	d.header(TagStation)
	s := &windows.Station{}
	s.Outbox = d.outbox()
	s.Division = d.str()
	s.HasClosed = d.bool()
	s.ClosedThrough = d.varint()
	s.HasEnd = d.bool()
	s.MaxEnd = d.varint()
	s.LastUpdate, s.LastLoop = d.varint(), d.varint()
	s.Accepted, s.Stale, s.Expired = d.uvarint(), d.uvarint(), d.uvarint()
	if n := d.count(3); n > 0 {
		s.Windows = make([]windows.StationWindow, n)
		var ps int64
		for i := range s.Windows {
			ps += d.varint()
			w := windows.StationWindow{Start: ps}
			w.End = ps + d.varint()
			if m := d.count(5); m > 0 {
				w.Rows = make([]windows.StationRow, m)
				for j := range w.Rows {
					w.Rows[j] = windows.StationRow{Device: d.str(), Entries: d.varint(), Exits: d.varint(), Rev: int32(d.uvarint()), Gen: int32(d.uvarint())}
				}
			}
			s.Windows[i] = w
		}
	}
	s.Emitted = d.emitted()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return s, nil
}
