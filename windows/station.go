package windows

import (
	"sort"
)

// DeviceRow is a published device window revision as the station stage
// receives it on the internal station-updates topic (keyed by station).
type DeviceRow struct {
	Device                  string
	Station, Line, Division string
	Start, End              int64
	Entries, Exits          int64
	Rev, Gen                int32
}

// DeviceRows is several device window revisions of one station window in
// one station-updates record: the device relay combines the rows of one
// changelog record (a device partition's closes) by station window, so
// the station stage applies them in one callback and one table write.
type DeviceRows []*DeviceRow

// StationRow is the latest revision of one device window within a station
// window.
type StationRow struct {
	Device         string
	Entries, Exits int64
	Rev, Gen       int32
}

// StationWindow is one window of a station: its devices' latest rows.
type StationWindow struct {
	Start, End int64
	Rows       []StationRow // sorted by Device
}

// Station is the value of the station-windows table: the latest
// revision of every device window of the station within retention.
type Station struct {
	Division      string
	Windows       []StationWindow // sorted by Start
	Emitted       Revisions
	ClosedThrough int64
	HasClosed     bool
	MaxEnd        int64 // the latest device window end the key has seen
	HasEnd        bool

	LastUpdate, LastLoop int64
	Accepted, Stale      uint64 // device revisions applied / superseded ones ignored
	Expired              uint64 // revisions for windows past retention, ignored

	Outbox Outbox
}

// NewStation is the state of a station that has seen nothing yet.
func NewStation() *Station { return &Station{LastUpdate: -1, LastLoop: -1} }

// ExpiredBefore is the start of the earliest window the key still keeps,
// by the latest device window end it received. Deleting a whole key past
// retention follows the partition's watermark (stations.nextAction).
func (s *Station) ExpiredBefore(rules *Rules) int64 {
	if !s.HasEnd {
		return -1 << 62
	}
	return rules.Windows.Earliest(s.MaxEnd - rules.Retention)
}

// Closed says whether window w is closed: the station's watermark has
// reached its END + grace.
func (s *Station) Closed(rules *Rules, w *StationWindow) bool {
	return s.HasClosed && w.End+rules.Grace <= s.ClosedThrough
}

func (s *Station) window(start, end int64) (*StationWindow, bool) {
	i := sort.Search(len(s.Windows), func(i int) bool { return s.Windows[i].Start >= start })
	if i < len(s.Windows) && s.Windows[i].Start == start {
		return &s.Windows[i], false
	}
	s.Windows = append(s.Windows, StationWindow{})
	copy(s.Windows[i+1:], s.Windows[i:])
	s.Windows[i] = StationWindow{Start: start, End: end}
	return &s.Windows[i], true
}

// Totals is the station window's row: the sums of its devices' latest
// rows and how many devices it has.
func (w *StationWindow) Totals() (entries, exits int64, devices int32) {
	for _, r := range w.Rows {
		entries += r.Entries
		exits += r.Exits
	}
	return entries, exits, int32(len(w.Rows))
}

func (s *Station) publish(w *StationWindow, st Stamp) {
	e, x, n := w.Totals()
	s.Outbox.Windows = append(s.Outbox.Windows, Row{
		Start: w.Start, End: w.End, Rev: s.Emitted.next(w.Start), Gen: st.Gen,
		Entries: e, Exits: x, Devices: n, EmittedAt: st.Now,
	})
}

// apply takes one device window revision. A revision that is not newer
// (generation, then revision) than the one held is a redelivery and is
// ignored.
func (s *Station) Apply(rules *Rules, r *DeviceRow, st Stamp) {
	if r.Start < s.ExpiredBefore(rules) {
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
	e0, x0, n0 := w.Totals()
	if i == len(w.Rows) || w.Rows[i].Device != r.Device {
		w.Rows = append(w.Rows, StationRow{})
		copy(w.Rows[i+1:], w.Rows[i:])
	}
	w.Rows[i] = StationRow{Device: r.Device, Entries: r.Entries, Exits: r.Exits, Rev: r.Rev, Gen: r.Gen}
	if !s.HasEnd || r.End > s.MaxEnd {
		s.MaxEnd, s.HasEnd = r.End, true
	}
	e1, x1, n1 := w.Totals()
	changed := e0 != e1 || x0 != x1 || n0 != n1
	if rules.publishes(s.Closed(rules, w), true, changed, s.Emitted.Rev(w.Start)) {
		s.publish(w, st)
	}
}

// close closes the windows with END+grace <= through, publishing the ones
// not published yet, and prunes past retention.
func (s *Station) Close(rules *Rules, through int64, st Stamp) bool {
	if s.HasClosed && through <= s.ClosedThrough {
		return false
	}
	s.ClosedThrough, s.HasClosed = through, true
	for i := range s.Windows {
		w := &s.Windows[i]
		if s.Closed(rules, w) && s.Emitted.Rev(w.Start) == 0 {
			s.publish(w, st)
		}
	}
	from := s.ExpiredBefore(rules)
	i := sort.Search(len(s.Windows), func(i int) bool { return s.Windows[i].Start >= from })
	s.Windows = append(s.Windows[:0], s.Windows[i:]...)
	s.Emitted.pruneBefore(from)
	return true
}

// NextClose is the END + grace of the station's earliest window not
// closed yet.
func (s *Station) NextClose(rules *Rules) (int64, bool) {
	for i := range s.Windows {
		if !s.Closed(rules, &s.Windows[i]) {
			return s.Windows[i].End + rules.Grace, true
		}
	}
	return 0, false
}

// Through reports how far the station has closed its windows.
func (s *Station) Through() (int64, bool) { return s.ClosedThrough, s.HasClosed }

// Newest is the latest device window end the station holds.
func (s *Station) Newest() (int64, bool) {
	if len(s.Windows) == 0 {
		return 0, false
	}
	return s.Windows[len(s.Windows)-1].End, true
}
