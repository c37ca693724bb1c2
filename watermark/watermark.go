package watermark

import (
	"slices"
	"time"
)

// Mark is what a receiver knows of one upstream partition: the event time
// it has reached (Unix ms, meaningful when Has) and whether it is idle.
type Mark struct {
	Time int64
	Has  bool
	Idle bool
}

// Merge is a receiver's view of its N upstream partitions (sources 0..N-1).
// Its zero value with N set is empty: no source heard from.
type Merge struct {
	N       int
	Sources map[int32]Mark
}

// Observe applies a mark from source src. Time never goes back (an old or
// redelivered mark cannot lower it); Idle is replaced, since a source
// says in order whether it is idle. It reports whether the merge changed.
func (m *Merge) Observe(src int32, mk Mark) bool {
	if m.Sources == nil {
		m.Sources = map[int32]Mark{}
	}
	old, ok := m.Sources[src]
	next := old
	if mk.Has && (!old.Has || mk.Time > old.Time) {
		next.Time, next.Has = mk.Time, true
	}
	next.Idle = mk.Idle
	if ok && next == old {
		return false
	}
	m.Sources[src] = next
	return true
}

// Progress is what a Merge concludes.
type Progress struct {
	// Time is the watermark when Has: the least Time of the active sources,
	// or, when every source is idle (AllIdle), the greatest.
	Time int64
	Has  bool
	// AllIdle: every source is idle; nothing more is coming until one of
	// them sends an active mark.
	AllIdle bool
	// Holder is the source that holds the watermark back: the active source
	// with the least time, or the first one without a time (never heard
	// from, or active with no data yet). -1 when every source is idle.
	Holder int32
	// Waiting counts the sources without a time that are not idle: while it
	// is above zero there is no watermark.
	Waiting int
	// Idle counts the idle sources.
	Idle int
	// Gated says a Gate held Time (or, with Has false, any watermark)
	// back: some source is idle and no tick has confirmed that it still
	// had no input after the merge reached Time.
	Gated bool
}

// Progress merges the sources' marks: no watermark until every source has
// a time or is idle; then the least time of the active ones; with all of
// them idle, the greatest time any has reached.
func (m *Merge) Progress() Progress { return m.progress(nil) }

// progress is Progress with the sources in lagging counted as active,
// whatever their last mark said.
func (m *Merge) progress(lagging map[int32]bool) Progress {
	p := Progress{Holder: -1}
	var maxT int64
	hasMax := false
	for s := range m.N {
		mk, ok := m.Sources[int32(s)]
		switch {
		case ok && mk.Idle && !lagging[int32(s)]:
			p.Idle++
		case !ok || !mk.Has:
			if p.Waiting == 0 {
				p.Holder = int32(s)
			}
			p.Waiting++
			continue
		case p.Waiting == 0 && (!p.Has || mk.Time < p.Time):
			p.Time, p.Has, p.Holder = mk.Time, true, int32(s)
		}
		if ok && mk.Has && (!hasMax || mk.Time > maxT) {
			maxT, hasMax = mk.Time, true
		}
	}
	switch {
	case m.N == 0 || p.Waiting > 0:
		p.Time, p.Has = 0, false
	case p.Idle == m.N:
		p.AllIdle, p.Holder = true, -1
		p.Time, p.Has = maxT, hasMax
	}
	return p
}

// Sorted lists the sources heard from in partition order.
func (m *Merge) Sorted() []int32 {
	out := make([]int32, 0, len(m.Sources))
	for s := range m.Sources {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Clock is a receiver's watermark over time: it never goes back, whatever
// the merge says after a source rejoins with older data.
type Clock struct {
	Time int64
	Has  bool
}

// Advance moves the clock to t if that is later; it reports whether it did.
func (c *Clock) Advance(t int64) bool {
	if c.Has && t <= c.Time {
		return false
	}
	c.Time, c.Has = t, true
	return true
}

// Source is the sending side's view of one source partition: the largest
// event time it has accepted, what it last told its receivers, and whether
// it told them it is idle. The zero value is a source nothing is known of,
// which must announce itself active before its first record (a previous
// owner of the partition may have marked it idle).
type Source struct {
	// Steps, when set, numbers the instants at which something downstream
	// can happen (a window's end + grace): a mark that stays within one
	// step changes no decision, so Due does not send it (Flush does).
	Steps func(t int64) int64

	max         int64
	hasMax      bool
	sent        int64
	hasSent     bool
	sentAt      time.Time
	announced   bool // receivers were told it is active since it was reset
	idle        bool
	lastInput   time.Time
	initialized bool
}

func (s *Source) init(now time.Time) {
	if !s.initialized {
		s.lastInput, s.initialized = now, true
	}
}

// Announce reports the mark to send before a record is forwarded, if one
// is needed: the source was idle (or nothing was said since it was reset)
// and must rejoin its receivers' minimum first.
func (s *Source) Announce(now time.Time) (Mark, bool) {
	s.init(now)
	s.lastInput = now
	if s.announced && !s.idle {
		return Mark{}, false
	}
	s.announced, s.idle = true, false
	return s.current(now), true
}

// Observe records an accepted event time (after the record was forwarded).
func (s *Source) Observe(t int64) {
	if !s.hasMax || t > s.max {
		s.max, s.hasMax = t, true
	}
}

// Due reports the mark to send now, if the source's time advanced since it
// last sent one, into a later step (see Steps), and at least every has
// passed since the last mark (every <= 0: at once).
func (s *Source) Due(now time.Time, every time.Duration) (Mark, bool) {
	s.init(now)
	if !s.hasMax || s.hasSent && s.max <= s.sent || now.Sub(s.sentAt) < every {
		return Mark{}, false
	}
	if s.Steps != nil && s.hasSent && s.Steps(s.max) == s.Steps(s.sent) {
		return Mark{}, false
	}
	return s.current(now), true
}

// Flush reports the mark to send if the source's time advanced at all
// since the last one, with no throttle and no steps: what a tick sends.
func (s *Source) Flush(now time.Time) (Mark, bool) {
	s.init(now)
	if !s.hasMax || s.hasSent && s.max <= s.sent {
		return Mark{}, false
	}
	return s.current(now), true
}

// Idle reports the idle mark to send, once, when the source is caught up
// and has been silent for timeout (timeout <= 0: never idle). Silent is
// either of two observations of the same fact, whichever holds first: the
// source had no input for timeout, or its log has not grown for quiet
// (measured at the broker; 0 when unknown). The second lets a source that
// catches up on input its producer stopped writing long ago go idle at
// once, instead of timeout after it read the last record.
func (s *Source) Idle(now time.Time, caughtUp bool, quiet, timeout time.Duration) (Mark, bool) {
	s.init(now)
	if timeout <= 0 || !caughtUp || s.idle && s.announced || now.Sub(s.lastInput) < timeout && quiet < timeout {
		return Mark{}, false
	}
	s.idle, s.announced = true, true
	m := s.current(now)
	m.Idle = true
	return m, true
}

// IsIdle says whether the receivers were told the source is idle.
func (s *Source) IsIdle() bool { return s.idle }

// Max is the largest accepted event time.
func (s *Source) Max() (int64, bool) { return s.max, s.hasMax }

func (s *Source) current(now time.Time) Mark {
	if s.hasMax {
		s.sent, s.hasSent = s.max, true
	}
	s.sentAt = now
	return Mark{Time: s.max, Has: s.hasMax}
}
