package processors

import (
	"fmt"
	"sort"
)

// deviceRow is a published device window revision as the station stage
// receives it on the internal station-updates topic (keyed by station).
type deviceRow struct {
	Device                  string
	Station, Line, Division string
	Start, End              int64
	Entries, Exits          int64
	Rev, Gen                int32
}

const (
	tagDeviceRow  byte = 11
	tagDeviceRows byte = 13
)

// deviceRows is several device window revisions of one station window in
// one station-updates record: the device relay combines the rows of one
// changelog record (a device partition's closes) by station window, so
// the station stage applies them in one callback and one table write.
type deviceRows []*deviceRow

func encodeDeviceRow(r *deviceRow) []byte {
	e := enc{}
	e.byte(tagDeviceRow)
	e.byte(encodingVersion)
	e.deviceRow(r)
	return e.b
}

// encodeDeviceRows encodes rows of one station window: one row in the
// single-row layout, more in the batch layout.
func encodeDeviceRows(rs deviceRows) []byte {
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

func decodeDeviceRows(b []byte) (deviceRows, error) {
	d := dec{b: b}
	d.header(tagDeviceRows)
	n := d.count(10)
	rs := make(deviceRows, n)
	for i := range rs {
		rs[i] = d.deviceRow()
	}
	if d.err != nil || len(d.b) != 0 || n == 0 {
		return nil, fmt.Errorf("processors: device rows: %w", errCorrupt)
	}
	return rs, nil
}

func (e *enc) deviceRow(r *deviceRow) {
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

func (d *dec) deviceRow() *deviceRow {
	r := &deviceRow{Device: d.str(), Station: d.str(), Line: d.str(), Division: d.str()}
	r.Start = d.varint()
	r.End = r.Start + d.varint()
	r.Entries, r.Exits = d.varint(), d.varint()
	r.Rev, r.Gen = int32(d.uvarint()), int32(d.uvarint())
	return r
}

func decodeDeviceRow(b []byte) (*deviceRow, error) {
	d := dec{b: b}
	d.header(tagDeviceRow)
	r := d.deviceRow()
	if d.err != nil || len(d.b) != 0 {
		return nil, fmt.Errorf("processors: device row: %w", errCorrupt)
	}
	return r, nil
}

// deviceRowCodec is the goka codec of the station-updates topic.
type deviceRowCodec struct{}

// It carries device window revisions (*deviceRow, or deviceRows of one
// station window) and watermarks (*markMsg).
func (deviceRowCodec) Encode(v any) ([]byte, error) {
	switch m := v.(type) {
	case *deviceRow:
		return encodeDeviceRow(m), nil
	case deviceRows:
		return encodeDeviceRows(m), nil
	case *markMsg:
		return encodeMark(m), nil
	}
	return nil, fmt.Errorf("processors: deviceRowCodec cannot encode %T", v)
}

func (deviceRowCodec) Decode(b []byte) (any, error) {
	if len(b) > 0 && b[0] == tagMark {
		return decodeMark(b)
	}
	if len(b) > 0 && b[0] == tagDeviceRows {
		return decodeDeviceRows(b)
	}
	return decodeDeviceRow(b)
}

type stationRow struct {
	Device         string
	Entries, Exits int64
	Rev, Gen       int32
}

type stationWin struct {
	Start, End int64
	Rows       []stationRow // sorted by Device
}

// stationState is the value of the station-windows table: the latest
// revision of every device window of the station within retention.
type stationState struct {
	Division      string
	Windows       []stationWin // sorted by Start
	Emitted       []emitted
	ClosedThrough int64
	HasClosed     bool
	MaxEnd        int64 // the latest device window end the key has seen
	HasEnd        bool

	LastUpdate, LastLoop int64
	Accepted, Stale      uint64 // device revisions applied / superseded ones ignored
	Expired              uint64 // revisions for windows past retention, ignored

	Outbox outbox
}

func newStationState() *stationState { return &stationState{LastUpdate: -1, LastLoop: -1} }

// expiredBefore is the start of the earliest window the key still keeps,
// by the latest device window end it received. Deleting a whole key past
// retention follows the partition's watermark (stations.nextAction).
func (s *stationState) expiredBefore(sem *semantics) int64 {
	if !s.HasEnd {
		return -1 << 62
	}
	return sem.Windows.Earliest(s.MaxEnd - sem.Retention)
}

func (s *stationState) closed(sem *semantics, w *stationWin) bool {
	return s.HasClosed && w.End+sem.Grace <= s.ClosedThrough
}

func (s *stationState) window(start, end int64) (*stationWin, bool) {
	i := sort.Search(len(s.Windows), func(i int) bool { return s.Windows[i].Start >= start })
	if i < len(s.Windows) && s.Windows[i].Start == start {
		return &s.Windows[i], false
	}
	s.Windows = append(s.Windows, stationWin{})
	copy(s.Windows[i+1:], s.Windows[i:])
	s.Windows[i] = stationWin{Start: start, End: end}
	return &s.Windows[i], true
}

func (w *stationWin) totals() (entries, exits int64, devices int32) {
	for _, r := range w.Rows {
		entries += r.Entries
		exits += r.Exits
	}
	return entries, exits, int32(len(w.Rows))
}

func (s *stationState) rev(start int64) int32 {
	i := sort.Search(len(s.Emitted), func(i int) bool { return s.Emitted[i].Start >= start })
	if i < len(s.Emitted) && s.Emitted[i].Start == start {
		return s.Emitted[i].Rev
	}
	return 0
}

func (s *stationState) publish(w *stationWin, st stamp) {
	i := sort.Search(len(s.Emitted), func(i int) bool { return s.Emitted[i].Start >= w.Start })
	if i == len(s.Emitted) || s.Emitted[i].Start != w.Start {
		s.Emitted = append(s.Emitted, emitted{})
		copy(s.Emitted[i+1:], s.Emitted[i:])
		s.Emitted[i] = emitted{Start: w.Start}
	}
	s.Emitted[i].Rev++
	e, x, n := w.totals()
	s.Outbox.Windows = append(s.Outbox.Windows, windowRow{
		Start: w.Start, End: w.End, Rev: s.Emitted[i].Rev, Gen: st.Gen,
		Entries: e, Exits: x, Devices: n, EmittedAt: st.Now,
	})
}

// apply takes one device window revision. A revision that is not newer
// (generation, then revision) than the one held is a redelivery and is
// ignored.
func (s *stationState) apply(sem *semantics, r *deviceRow, st stamp) {
	if r.Start < s.expiredBefore(sem) {
		s.Expired++
		return
	}
	if r.Division != "" {
		s.Division = r.Division
	}
	w, _ := s.window(r.Start, r.End)
	i := sort.Search(len(w.Rows), func(i int) bool { return w.Rows[i].Device >= r.Device })
	if i < len(w.Rows) && w.Rows[i].Device == r.Device {
		old := w.Rows[i]
		if r.Gen < old.Gen || r.Gen == old.Gen && r.Rev <= old.Rev {
			s.Stale++
			return
		}
		if r.Gen > old.Gen {
			// a new generation replaces the whole window's history
			w.Rows = nil
			i = 0
		}
	}
	s.Accepted++
	// Totals before the change: a device joining with zero counts still
	// changes DEVICES, so they are taken before its row is inserted.
	e0, x0, n0 := w.totals()
	if i == len(w.Rows) || w.Rows[i].Device != r.Device {
		w.Rows = append(w.Rows, stationRow{})
		copy(w.Rows[i+1:], w.Rows[i:])
	}
	w.Rows[i] = stationRow{Device: r.Device, Entries: r.Entries, Exits: r.Exits, Rev: r.Rev, Gen: r.Gen}
	if !s.HasEnd || r.End > s.MaxEnd {
		s.MaxEnd, s.HasEnd = r.End, true
	}
	e1, x1, n1 := w.totals()
	changed := e0 != e1 || x0 != x1 || n0 != n1
	switch {
	case s.closed(sem, w):
		if changed || s.rev(w.Start) == 0 {
			s.publish(w, st)
		}
	case sem.Emit == EmitUpdates && changed:
		s.publish(w, st)
	}
}

// close closes the windows with END+grace <= through, publishing the ones
// not published yet, and prunes past retention.
func (s *stationState) close(sem *semantics, through int64, st stamp) bool {
	if s.HasClosed && through <= s.ClosedThrough {
		return false
	}
	s.ClosedThrough, s.HasClosed = through, true
	for i := range s.Windows {
		w := &s.Windows[i]
		if s.closed(sem, w) && s.rev(w.Start) == 0 {
			s.publish(w, st)
		}
	}
	from := s.expiredBefore(sem)
	i := sort.Search(len(s.Windows), func(i int) bool { return s.Windows[i].Start >= from })
	s.Windows = append(s.Windows[:0], s.Windows[i:]...)
	j := sort.Search(len(s.Emitted), func(j int) bool { return s.Emitted[j].Start >= from })
	s.Emitted = append(s.Emitted[:0], s.Emitted[j:]...)
	return true
}

func (s *stationState) nextClose(sem *semantics) (int64, bool) {
	for i := range s.Windows {
		if !s.closed(sem, &s.Windows[i]) {
			return s.Windows[i].End + sem.Grace, true
		}
	}
	return 0, false
}

func encodeStation(s *stationState, buf []byte) []byte {
	e := enc{b: buf[:0]}
	e.byte(tagStation)
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

func decodeStation(b []byte) (*stationState, error) {
	d := dec{b: b}
	d.header(tagStation)
	s := &stationState{}
	s.Outbox = d.outbox()
	s.Division = d.str()
	s.HasClosed = d.bool()
	s.ClosedThrough = d.varint()
	s.HasEnd = d.bool()
	s.MaxEnd = d.varint()
	s.LastUpdate, s.LastLoop = d.varint(), d.varint()
	s.Accepted, s.Stale, s.Expired = d.uvarint(), d.uvarint(), d.uvarint()
	if n := d.count(3); n > 0 {
		s.Windows = make([]stationWin, n)
		var ps int64
		for i := range s.Windows {
			ps += d.varint()
			w := stationWin{Start: ps}
			w.End = ps + d.varint()
			if m := d.count(5); m > 0 {
				w.Rows = make([]stationRow, m)
				for j := range w.Rows {
					w.Rows[j] = stationRow{Device: d.str(), Entries: d.varint(), Exits: d.varint(), Rev: int32(d.uvarint()), Gen: int32(d.uvarint())}
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
