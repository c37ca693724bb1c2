package windows

import (
	"sort"
	"strings"
)

// Reading is one accepted reading as kept in device state.
type Reading struct {
	T       int64 // event time, Unix ms
	Entries int64
	Exits   int64
	ID      uint64 // hash of the reading's ID, for duplicate detection
	Desc    string
}

// Device is one device's state in the windowed stage's table, under its
// reading key (STATION|LINENAME|CA|UNIT|SCP): everything needed for exact
// counter differences, late corrections within retention (of its own
// windows and of its station's), exactly-once application and
// deterministic emission.
type Device struct {
	// Division is the DIVISION of the device's latest reading in event time.
	Division string

	// Readings within retention, sorted by (T, ID). The first one may be a
	// base reading older than every retained window: it only provides the
	// previous counter value.
	Readings []Reading
	// Emitted is the revision of every retained window of the device that
	// was published.
	Emitted Revisions
	// StationEmitted is the revision of every retained window of the
	// device's station that this device's writes published (corrections),
	// or that a close published while the device had a reading in it
	// (revision 1). A station window's latest revision is the greatest
	// over its devices (see Peers).
	StationEmitted Revisions
	// ClosedThrough: every window with END+grace <= ClosedThrough is closed.
	ClosedThrough int64
	HasClosed     bool

	// Exactly-once: the last applied offset of each input of the key (the
	// pipeline's input topic, read in place, and the re-keyed readings
	// topic).
	LastInput   int64
	LastReading int64

	Accepted, Duplicates uint64
	Dropped              int64 // counter differences dropped (reset or glitch), net of corrections

	// Outbox is what this write publishes (see Outbox).
	Outbox Outbox
}

// WindowTotals is a window's row content.
type WindowTotals struct {
	Has           bool
	Entries       int64
	Exits         int64
	Desc          string
	DroppedDeltas int
}

// NewDevice is the state of a device that has seen nothing yet.
func NewDevice() *Device { return &Device{LastInput: -1, LastReading: -1} }

// contribution of reading i (its index in s.Readings).
func (s *Device) contribution(rules *Rules, i int) (entries, exits int64, dropped int) {
	r := s.Readings[i]
	if rules.Counters == Increment {
		return r.Entries, r.Exits, 0
	}
	if i == 0 {
		return 0, 0, 0 // the first reading of a device has no previous counter
	}
	p := s.Readings[i-1]
	delta := func(cur, prev int64) int64 {
		d := cur - prev
		if d < 0 || d > rules.MaxDelta {
			dropped++
			return 0
		}
		return d
	}
	return delta(r.Entries, p.Entries), delta(r.Exits, p.Exits), dropped
}

// totals computes the row of window [start, start+Size).
func (s *Device) Totals(rules *Rules, start int64) WindowTotals {
	end := rules.Windows.End(start)
	var w WindowTotals
	i := sort.Search(len(s.Readings), func(i int) bool { return s.Readings[i].T >= start })
	for ; i < len(s.Readings) && s.Readings[i].T < end; i++ {
		e, x, d := s.contribution(rules, i)
		w.Has = true
		w.Entries += e
		w.Exits += x
		w.DroppedDeltas += d
		w.Desc = s.Readings[i].Desc
	}
	return w
}

// Closed says whether window start is closed: the device's watermark
// has reached its END + grace.
func (s *Device) Closed(rules *Rules, start int64) bool {
	return s.HasClosed && rules.Windows.End(start)+rules.Grace <= s.ClosedThrough
}

// publish records a new revision of window start and puts its row in the
// outbox.
func (s *Device) publish(rules *Rules, start int64, row WindowTotals, st Stamp) {
	s.Outbox.Windows = append(s.Outbox.Windows, Row{
		Start: start, End: rules.Windows.End(start), Rev: s.Emitted.next(start), Gen: st.Gen,
		Entries: row.Entries, Exits: row.Exits, Desc: row.Desc, EmittedAt: st.Now,
	})
}

// readingLess is the event-time order of a device's readings. Readings
// with equal times (a device reporting two registers at once) are ordered
// by their counters, so the order never depends on arrival or IDs; ties
// left have equal counters and equal differences.
func readingLess(a, b Reading) bool {
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

// Apply adds an accepted (not too late) reading with the DIVISION it
// carries. It reports false, and changes nothing but the duplicate count,
// when the device already has a reading with r's ID.
//
// A change to a window that publishes a device revision (a correction, or
// an update in EmitUpdates mode) publishes its station window too when the
// station's row changed (its totals or DEVICES): the station row is
// computed from this device and its peers (the other devices of its
// station, all in this device's partition), in the same outbox, so the
// two are durable together. peers may be nil for a device without any.
func (s *Device) Apply(rules *Rules, r Reading, division string, st Stamp, peers Peers) (applied bool) {
	for _, old := range s.Readings {
		if old.ID == r.ID {
			s.Duplicates++
			return false
		}
	}
	s.Accepted++
	// The device outlives the record its strings came from (a decoder may
	// hand out slices of one copy of the whole record): keep copies of its
	// own, and the usual descriptions as constants.
	r.Desc = ownDesc(r.Desc)
	pos := sort.Search(len(s.Readings), func(i int) bool { return readingLess(r, s.Readings[i]) })
	if pos == len(s.Readings) && s.Division != division {
		s.Division = strings.Clone(division)
	}
	hasNext := rules.Counters != Increment && pos < len(s.Readings)

	// Windows whose rows can change: those of the new reading and, in
	// cumulative mode, those of its successor, whose difference changes.
	var affected []int64
	rules.Windows.Of(r.T, func(start int64) { affected = append(affected, start) })
	var droppedBefore int
	if hasNext {
		rules.Windows.Of(s.Readings[pos].T, func(start int64) {
			if !containsInt64(affected, start) {
				affected = append(affected, start)
			}
		})
		_, _, droppedBefore = s.contribution(rules, pos)
	}
	sort.Slice(affected, func(i, j int) bool { return affected[i] < affected[j] })
	// Expired windows are final: a reading in one is too late and never
	// gets here (the runtime checks Rules.TooLate first; its successor's
	// windows are later still). This only guards that invariant.
	from := s.ExpiredBefore(rules)
	for len(affected) > 0 && affected[0] < from {
		affected = affected[1:]
	}
	before := make([]WindowTotals, len(affected))
	for i, start := range affected {
		before[i] = s.Totals(rules, start)
	}

	s.Readings = append(s.Readings, Reading{})
	copy(s.Readings[pos+1:], s.Readings[pos:])
	s.Readings[pos] = r

	_, _, droppedAfter := s.contribution(rules, pos)
	if hasNext {
		_, _, d := s.contribution(rules, pos+1)
		droppedAfter += d
	}
	s.Dropped += int64(droppedAfter - droppedBefore)

	for i, start := range affected {
		after := s.Totals(rules, start)
		closed := s.Closed(rules, start)
		changed := after.Has && after != before[i]
		if rules.publishes(closed, after.Has, changed, s.Emitted.Rev(start)) {
			s.publish(rules, start, after, st)
		}
		// The station's row changes when this device's share of it does:
		// its counts, or whether it is in the window at all (DEVICES).
		b, a := before[i], after
		if a.Has != b.Has || a.Entries != b.Entries || a.Exits != b.Exits {
			s.publishStation(rules, start, closed, a, st, peers)
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

// ExpiredBefore is the start of the earliest window that can still
// change: older windows are final and their records are gone.
func (s *Device) ExpiredBefore(rules *Rules) int64 {
	if !s.HasClosed {
		return -1 << 62
	}
	return rules.Windows.Earliest(s.ClosedThrough - rules.Retention)
}

// expired says whether a reading at t falls in a window the device has
// pruned (older than every window that can still change).
func (s *Device) Expired(rules *Rules, t int64) bool {
	return s.HasClosed && rules.Windows.Earliest(t) < s.ExpiredBefore(rules)
}

// EachLiveWindow calls fn once for every window, oldest first, that holds a
// retained reading and has not expired.
func (s *Device) EachLiveWindow(rules *Rules, fn func(start int64) bool) {
	s.eachLiveWindowFrom(rules, s.ExpiredBefore(rules), fn)
}

// eachLiveWindowFrom is EachLiveWindow over the readings at or after
// event time from (at least the expiry): a caller skips readings whose
// windows it knows it would pass over. Readings are in event-time order,
// and a reading before the expiry has only expired windows, so starting
// there changes nothing.
func (s *Device) eachLiveWindowFrom(rules *Rules, from int64, fn func(start int64) bool) {
	expired := s.ExpiredBefore(rules)
	last := expired - 1
	rs := s.Readings
	if from = max(from, expired); len(rs) > 0 && rs[0].T < from {
		rs = rs[sort.Search(len(rs), func(i int) bool { return rs[i].T >= from }):]
	}
	if rules.Windows.Alignment() == AlignEpoch {
		// Windows aligned to the epoch: Of's loop, without a call per
		// window (this loop is the stage's hottest: every reading and
		// every close walks a device's windows).
		for _, r := range rs {
			for start := rules.Windows.Earliest(r.T); start <= r.T; start += rules.Windows.Slide {
				if start <= last {
					continue
				}
				last = start
				if !fn(start) {
					return
				}
			}
		}
		return
	}
	for _, r := range rs {
		stop := false
		rules.Windows.Of(r.T, func(start int64) {
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
func (s *Device) Close(rules *Rules, through int64, st Stamp) bool {
	if s.HasClosed && through <= s.ClosedThrough {
		return false
	}
	var due []int64
	// Every window the last close closed that holds a reading was
	// published then, or by the Apply that put its reading there later
	// (a closed window with a row and no revision publishes): the walk
	// starts where the windows still open begin, as NextClose's does.
	s.eachLiveWindowFrom(rules, s.openFrom(rules), func(start int64) bool {
		if rules.Windows.End(start)+rules.Grace > through {
			return false
		}
		if s.Emitted.Rev(start) == 0 {
			due = append(due, start)
		}
		return true
	})
	s.ClosedThrough, s.HasClosed = through, true
	for _, start := range due {
		s.publish(rules, start, s.Totals(rules, start), st)
		// The close that publishes this device's first revision publishes
		// its station window's first revision too, in the same write
		// (RollUp): nothing of a window is published before it closes in
		// EmitFinal mode, so the station window had none.
		s.StationEmitted.atLeast(start, 1)
	}
	s.prune(rules)
	return true
}

// CatchUp records, silently, what the partition's watermark through has
// closed: a device partition publishes its closes in the metadata write
// that advances the watermark, never by rewriting the device, so every
// reader of a stored value brings it up to the watermark this way first.
// Deterministic and idempotent; the Outbox is left as it was.
func (s *Device) CatchUp(rules *Rules, through int64) {
	o := s.Outbox
	s.Close(rules, through, Stamp{})
	s.Outbox = o
}

// prune drops readings and published windows older than every window that
// can still change, keeping one base reading in cumulative mode so the next
// difference can be computed.
func (s *Device) prune(rules *Rules) {
	from := s.ExpiredBefore(rules)
	i := sort.Search(len(s.Readings), func(i int) bool { return s.Readings[i].T >= from })
	if rules.Counters != Increment && i > 0 {
		i-- // keep the base
	}
	if i > 0 {
		s.Readings = append(s.Readings[:0], s.Readings[i:]...)
	}
	s.Emitted.pruneBefore(from)
	s.StationEmitted.pruneBefore(from)
}

// NextClose is the earliest END+grace of a live window with a reading that
// is not closed yet: when stream time reaches it, the key needs a close.
func (s *Device) NextClose(rules *Rules) (at int64, ok bool) {
	s.eachLiveWindowFrom(rules, s.openFrom(rules), func(start int64) bool {
		if s.Closed(rules, start) {
			return true
		}
		at, ok = rules.Windows.End(start)+rules.Grace, true
		return false
	})
	return at, ok
}

// openFrom is the earliest event time of a reading that can be in a
// window not closed yet: a reading whose every window has closed has
// nothing for a walk over the open ones (a window holding t ends by
// t + reach).
func (s *Device) openFrom(rules *Rules) int64 {
	if !s.HasClosed {
		return -1 << 62
	}
	return s.ClosedThrough - rules.Grace - rules.Windows.reach() + 1
}

// Newest is the latest event time the device has seen.
func (s *Device) Newest() (int64, bool) {
	if len(s.Readings) == 0 {
		return 0, false
	}
	return s.Readings[len(s.Readings)-1].T, true
}

// Through reports how far the device has closed its windows: every window
// with END + grace <= the time is closed.
func (s *Device) Through() (int64, bool) { return s.ClosedThrough, s.HasClosed }

// ownDesc returns desc without its backing array: MTA's two descriptions
// as constants, anything else copied.
func ownDesc(desc string) string {
	switch desc {
	case "REGULAR":
		return "REGULAR"
	case "RECOVR AUD":
		return "RECOVR AUD"
	}
	return strings.Clone(desc)
}
