package processors

import (
	"sort"
)

// CounterMode says what a reading's ENTRIES and EXITS contribute (the
// --counters flag).
type CounterMode string

// Counter modes.
const (
	// Cumulative: ENTRIES/EXITS are register counters; a reading contributes
	// the difference to the device's previous reading in event-time order.
	Cumulative CounterMode = "cumulative"
	// Increment: a reading contributes its own ENTRIES/EXITS.
	Increment CounterMode = "increment"
)

// EmitMode says when a window is published (the --emit flag).
type EmitMode string

// Emit modes.
const (
	EmitFinal   EmitMode = "final"   // a window is emitted when it closes, then on corrections
	EmitUpdates EmitMode = "updates" // additionally on every change while open
)

// semantics are the window rules shared by every device and station.
type semantics struct {
	Windows   windowSpec
	Grace     int64 // ms after END before a window closes
	Retention int64 // ms of event time that late data may still correct
	Counters  CounterMode
	MaxDelta  int64
	Emit      EmitMode
}

// closeStep numbers the instants at which windows close, start + size +
// grace with start a multiple of the slide: the latest at or before t.
func (sem *semantics) closeStep(t int64) int64 {
	return floorDiv(t-sem.Windows.Size-sem.Grace, sem.Windows.Slide)
}

// closeTime is the instant of close step n.
func (sem *semantics) closeTime(n int64) int64 {
	return n*sem.Windows.Slide + sem.Windows.Size + sem.Grace
}

// devReading is one accepted reading as kept in device state.
type devReading struct {
	T       int64 // event time, Unix ms
	Entries int64
	Exits   int64
	ID      uint64 // hash of the reading's ID, for duplicate detection
	Desc    string
}

// emitted records the latest revision published for a window.
type emitted struct {
	Start int64
	Rev   int32
}

// windowRow is one published revision of a window, complete: the relay
// publishes it as is, so a republication after a crash is identical.
type windowRow struct {
	Start, End     int64 // Unix ms
	Rev            int32
	Gen            int32
	Entries, Exits int64
	Desc           string
	Devices        int32 // stations only
	EmittedAt      int64 // wall-clock ms of the decision
}

// deviceState is the value of the device-windows table: everything needed
// for exact counter differences, late corrections within retention,
// exactly-once application and deterministic emission.
type deviceState struct {
	Station, Line, Division string

	// Readings within retention, sorted by (T, ID). The first one may be a
	// base reading older than every retained window: it only provides the
	// previous counter value.
	Readings []devReading
	// Emitted holds, per retained window that was published, its latest
	// revision, sorted by Start.
	Emitted []emitted
	// ClosedThrough: every window with END+grace <= ClosedThrough is closed.
	ClosedThrough int64
	HasClosed     bool

	// Exactly-once: the last applied offset of each input of the key.
	LastReading int64
	LastLoop    int64

	Accepted, Duplicates uint64
	Dropped              int64 // counter differences dropped (reset or glitch), net of corrections

	// Outbox is what this write publishes (windows by start, late
	// readings); it is transient: the next write replaces it.
	Outbox outbox
}

type outbox struct {
	Windows []windowRow
	Late    [][]byte // too-late readings, internal encoding
}

func (o outbox) empty() bool { return len(o.Windows) == 0 && len(o.Late) == 0 }

// windowTotals is a window's row content.
type windowTotals struct {
	Has           bool
	Entries       int64
	Exits         int64
	Desc          string
	DroppedDeltas int
}

func newDeviceState() *deviceState { return &deviceState{LastReading: -1, LastLoop: -1} }

// contribution of reading i (its index in s.Readings).
func (s *deviceState) contribution(sem *semantics, i int) (entries, exits int64, dropped int) {
	r := s.Readings[i]
	if sem.Counters == Increment {
		return r.Entries, r.Exits, 0
	}
	if i == 0 {
		return 0, 0, 0 // the first reading of a device has no previous counter
	}
	p := s.Readings[i-1]
	delta := func(cur, prev int64) int64 {
		d := cur - prev
		if d < 0 || d > sem.MaxDelta {
			dropped++
			return 0
		}
		return d
	}
	return delta(r.Entries, p.Entries), delta(r.Exits, p.Exits), dropped
}

// totals computes the row of window [start, start+Size).
func (s *deviceState) totals(sem *semantics, start int64) windowTotals {
	end := start + sem.Windows.Size
	var w windowTotals
	i := sort.Search(len(s.Readings), func(i int) bool { return s.Readings[i].T >= start })
	for ; i < len(s.Readings) && s.Readings[i].T < end; i++ {
		e, x, d := s.contribution(sem, i)
		w.Has = true
		w.Entries += e
		w.Exits += x
		w.DroppedDeltas += d
		w.Desc = s.Readings[i].Desc
	}
	return w
}

func (s *deviceState) closed(sem *semantics, start int64) bool {
	return s.HasClosed && start+sem.Windows.Size+sem.Grace <= s.ClosedThrough
}

func (s *deviceState) emittedIndex(start int64) (int, bool) {
	i := sort.Search(len(s.Emitted), func(i int) bool { return s.Emitted[i].Start >= start })
	return i, i < len(s.Emitted) && s.Emitted[i].Start == start
}

// publish records a new revision of window start and puts its row in the
// outbox.
func (s *deviceState) publish(sem *semantics, start int64, row windowTotals, st stamp) {
	i, ok := s.emittedIndex(start)
	if !ok {
		s.Emitted = append(s.Emitted, emitted{})
		copy(s.Emitted[i+1:], s.Emitted[i:])
		s.Emitted[i] = emitted{Start: start}
	}
	s.Emitted[i].Rev++
	s.Outbox.Windows = append(s.Outbox.Windows, windowRow{
		Start: start, End: start + sem.Windows.Size, Rev: s.Emitted[i].Rev, Gen: st.Gen,
		Entries: row.Entries, Exits: row.Exits, Desc: row.Desc, EmittedAt: st.Now,
	})
}

// stamp is what every publication carries besides the row: the wall clock
// of the decision and the replay generation.
type stamp struct {
	Now int64
	Gen int32
}

func (s *deviceState) rev(start int64) int32 {
	if i, ok := s.emittedIndex(start); ok {
		return s.Emitted[i].Rev
	}
	return 0
}

// readingLess is the event-time order of a device's readings. Readings
// with equal times (a device reporting two registers at once) are ordered
// by their counters, so the order never depends on arrival or IDs; ties
// left have equal counters and equal differences.
func readingLess(a, b devReading) bool {
	switch {
	case a.T != b.T:
		return a.T < b.T
	case a.Entries != b.Entries:
		return a.Entries < b.Entries
	case a.Exits != b.Exits:
		return a.Exits < b.Exits
	}
	return a.ID < b.ID
}

// apply adds an accepted (not too late) reading. It reports false, and
// changes nothing but the duplicate count, when the device already has a
// reading with r's ID.
func (s *deviceState) apply(sem *semantics, r devReading, meta [3]string, st stamp) (applied bool) {
	for _, old := range s.Readings {
		if old.ID == r.ID {
			s.Duplicates++
			return false
		}
	}
	s.Accepted++
	pos := sort.Search(len(s.Readings), func(i int) bool { return readingLess(r, s.Readings[i]) })
	if pos == len(s.Readings) {
		s.Station, s.Line, s.Division = meta[0], meta[1], meta[2]
	}
	hasNext := sem.Counters != Increment && pos < len(s.Readings)

	// Windows whose rows can change: those of the new reading and, in
	// cumulative mode, those of its successor, whose difference changes.
	var affected []int64
	sem.Windows.Of(r.T, func(start int64) { affected = append(affected, start) })
	var droppedBefore int
	if hasNext {
		sem.Windows.Of(s.Readings[pos].T, func(start int64) {
			if !containsInt64(affected, start) {
				affected = append(affected, start)
			}
		})
		_, _, droppedBefore = s.contribution(sem, pos)
	}
	sort.Slice(affected, func(i, j int) bool { return affected[i] < affected[j] })
	// Expired windows are final: a reading in one is too late and never
	// gets here (devices.onReading checks expired first; its successor's
	// windows are later still). This only guards that invariant.
	from := s.expiredBefore(sem)
	for len(affected) > 0 && affected[0] < from {
		affected = affected[1:]
	}
	before := make([]windowTotals, len(affected))
	for i, start := range affected {
		before[i] = s.totals(sem, start)
	}

	s.Readings = append(s.Readings, devReading{})
	copy(s.Readings[pos+1:], s.Readings[pos:])
	s.Readings[pos] = r

	_, _, droppedAfter := s.contribution(sem, pos)
	if hasNext {
		_, _, d := s.contribution(sem, pos+1)
		droppedAfter += d
	}
	s.Dropped += int64(droppedAfter - droppedBefore)

	for i, start := range affected {
		after := s.totals(sem, start)
		changed := after.Has && after != before[i]
		switch {
		case s.closed(sem, start):
			// A late reading: correct the published row, or publish a row
			// for a window that closed while it had no reading.
			if changed || after.Has && s.rev(start) == 0 {
				s.publish(sem, start, after, st)
			}
		case sem.Emit == EmitUpdates && changed:
			s.publish(sem, start, after, st)
		}
	}
	return true
}

func containsInt64(xs []int64, x int64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// expiredBefore is the start of the earliest window that can still
// change: older windows are final and their records are gone.
func (s *deviceState) expiredBefore(sem *semantics) int64 {
	if !s.HasClosed {
		return -1 << 62
	}
	return sem.Windows.Earliest(s.ClosedThrough - sem.Retention)
}

// expired says whether a reading at t falls in a window the device has
// pruned (older than every window that can still change).
func (s *deviceState) expired(sem *semantics, t int64) bool {
	return s.HasClosed && sem.Windows.Earliest(t) < s.expiredBefore(sem)
}

// eachLiveWindow calls fn once for every window, oldest first, that holds a
// retained reading and has not expired.
func (s *deviceState) eachLiveWindow(sem *semantics, fn func(start int64) bool) {
	from := s.expiredBefore(sem)
	last := from - 1
	for _, r := range s.Readings {
		stop := false
		sem.Windows.Of(r.T, func(start int64) {
			if stop || start <= last {
				return
			}
			last = start
			stop = !fn(start)
		})
		if stop {
			return
		}
	}
}

// close closes every window with END+grace <= through, publishing those
// with rows that were not published yet, then drops what retention no
// longer needs. It reports whether anything changed.
func (s *deviceState) close(sem *semantics, through int64, st stamp) bool {
	if s.HasClosed && through <= s.ClosedThrough {
		return false
	}
	var due []int64
	s.eachLiveWindow(sem, func(start int64) bool {
		if start+sem.Windows.Size+sem.Grace > through {
			return false
		}
		if s.rev(start) == 0 {
			due = append(due, start)
		}
		return true
	})
	s.ClosedThrough, s.HasClosed = through, true
	for _, start := range due {
		s.publish(sem, start, s.totals(sem, start), st)
	}
	s.prune(sem)
	return true
}

// catchUp records, silently, what the partition's watermark through has
// closed: a device partition publishes its closes in the metadata write
// that advances the watermark, never by rewriting the device, so every
// reader of a stored value brings it up to the watermark this way first.
// Deterministic and idempotent; the outbox is left as it was.
func (s *deviceState) catchUp(sem *semantics, through int64) {
	o := s.Outbox
	s.close(sem, through, stamp{})
	s.Outbox = o
}

// prune drops readings and published windows older than every window that
// can still change, keeping one base reading in cumulative mode so the next
// difference can be computed.
func (s *deviceState) prune(sem *semantics) {
	from := s.expiredBefore(sem)
	i := sort.Search(len(s.Readings), func(i int) bool { return s.Readings[i].T >= from })
	if sem.Counters != Increment && i > 0 {
		i-- // keep the base
	}
	if i > 0 {
		s.Readings = append(s.Readings[:0], s.Readings[i:]...)
	}
	j := sort.Search(len(s.Emitted), func(j int) bool { return s.Emitted[j].Start >= from })
	if j > 0 {
		s.Emitted = append(s.Emitted[:0], s.Emitted[j:]...)
	}
}

// nextClose is the earliest END+grace of a live window with a reading that
// is not closed yet: when stream time reaches it, the key needs a close.
func (s *deviceState) nextClose(sem *semantics) (at int64, ok bool) {
	s.eachLiveWindow(sem, func(start int64) bool {
		if s.closed(sem, start) {
			return true
		}
		at, ok = start+sem.Windows.Size+sem.Grace, true
		return false
	})
	return at, ok
}

// maxEventTime is the latest event time the device has seen.
func (s *deviceState) maxEventTime() (int64, bool) {
	if len(s.Readings) == 0 {
		return 0, false
	}
	return s.Readings[len(s.Readings)-1].T, true
}
