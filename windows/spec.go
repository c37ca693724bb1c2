package windows

import (
	"fmt"
	"time"
)

// Alignment says where windows start (the --window-align flag).
type Alignment string

// Alignments.
const (
	// AlignEpoch: window starts are multiples of the slide since the Unix
	// epoch, like Spark's window(); every window lasts exactly its length.
	AlignEpoch Alignment = "epoch"
	// AlignLocal: windows start at local midnight in a time zone plus
	// multiples of the slide, counted on the wall clock, like Spark's
	// startTime or Flink's window offset but following daylight saving
	// time: with 4h windows every window starts at 00:00, 04:00, 08:00, …
	// local time, and 24h windows are local days. A window that spans a
	// transition is as long as the wall clock says: an hour shorter on the
	// day the clocks go forward, an hour longer on the day they go back.
	AlignLocal Alignment = "local"
)

// Spec describes the event-time windows. Window n (an integer, negative
// before 1970) spans [n*Slide, n*Slide+Size) on its clock: with
// AlignEpoch (NewSpec) the clock is Unix time, so a time t belongs to
// every window [start, start+Size) with start a multiple of Slide; with
// AlignLocal (NewLocalSpec) it is the zone's wall clock, read as Unix time
// as if the zone were UTC (its midnights are then multiples of 24h, and
// of Slide, which divides 24h), and each boundary is mapped to the instant
// at which that wall clock reads it:
//   - a boundary the wall clock reads twice (the repeated hour when the
//     clocks go back) is its first reading, so the window that spans the
//     repeated hour holds both passes of it;
//   - a boundary the wall clock skips (the hour when the clocks go
//     forward) is the transition instant, where the skip happens;
//   - a window that would start at the same instant as the next one (its
//     start was skipped) is not a window: it is empty (tumbling) or a part
//     of the next one (sliding).
//
// A time belongs to every window whose instants satisfy START <= t < END.
// Slide == Size gives tumbling windows. Times are Unix milliseconds. A Spec
// is an immutable value, safe for concurrent use.
type Spec struct {
	Size  int64
	Slide int64
	// zone is AlignLocal's time zone; nil for AlignEpoch.
	zone *time.Location
}

// NewSpec validates a window length and slide (slide 0 = tumbling) and
// aligns the windows to the Unix epoch (AlignEpoch).
func NewSpec(size, slide time.Duration) (Spec, error) {
	if slide == 0 {
		slide = size
	}
	w := Spec{Size: size.Milliseconds(), Slide: slide.Milliseconds()}
	switch {
	case w.Size <= 0:
		return w, fmt.Errorf("windows: window must be positive, got %v", size)
	case w.Slide <= 0 || w.Slide > w.Size:
		return w, fmt.Errorf("windows: slide must be in (0, window], got %v", slide)
	}
	return w, nil
}

// NewLocalSpec is NewSpec with windows aligned to local midnight in zone
// (AlignLocal). The slide must divide 24h, so that every local day starts
// a window.
func NewLocalSpec(size, slide time.Duration, zone *time.Location) (Spec, error) {
	w, err := NewSpec(size, slide)
	if err != nil {
		return w, err
	}
	if zone == nil {
		return w, fmt.Errorf("windows: local alignment needs a time zone")
	}
	if day := (24 * time.Hour).Milliseconds(); day%w.Slide != 0 {
		return w, fmt.Errorf("windows: local alignment needs a slide that divides 24h (1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h, or 15m, 30m, ...), got %v", time.Duration(w.Slide)*time.Millisecond)
	}
	w.zone = zone
	return w, nil
}

// Alignment says how the windows are aligned.
func (w Spec) Alignment() Alignment {
	if w.zone == nil {
		return AlignEpoch
	}
	return AlignLocal
}

// Zone is AlignLocal's time zone, nil with AlignEpoch.
func (w Spec) Zone() *time.Location { return w.zone }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Earliest is the start of the earliest window containing t.
func (w Spec) Earliest(t int64) int64 {
	if w.zone == nil {
		// smallest multiple of Slide strictly greater than t-Size
		return (floorDiv(t-w.Size, w.Slide) + 1) * w.Slide
	}
	if off, ok := w.steady(t-w.Size-w.Slide, t+w.Size+w.Slide); ok {
		return (floorDiv(t+off-w.Size, w.Slide)+1)*w.Slide - off
	}
	last := w.lastStarting(t)
	for n := w.firstEndingAfter(t); n < last; n++ {
		if s := w.startOf(n); s < w.startOf(n+1) {
			return s
		}
	}
	return w.startOf(last)
}

// End is the end of the window starting at start.
func (w Spec) End(start int64) int64 {
	if w.zone == nil {
		return start + w.Size
	}
	if off, ok := w.steady(start-w.Slide, start+w.Size+w.Slide); ok {
		return floorDiv(start+off, w.Slide)*w.Slide + w.Size - off
	}
	return w.endOf(w.lastStarting(start))
}

// reach bounds how far past t a window containing t can end: its size on
// the epoch's clock, and on a zone's clock its size plus the largest
// change of UTC offset.
func (w Spec) reach() int64 {
	if w.zone == nil {
		return w.Size
	}
	return w.Size + maxOffset
}

// Of calls fn with the start of every window containing t, earliest first.
func (w Spec) Of(t int64, fn func(start int64)) {
	if w.zone == nil {
		for s := w.Earliest(t); s <= t; s += w.Slide {
			fn(s)
		}
		return
	}
	if off, ok := w.steady(t-w.Size-w.Slide, t+w.Size+w.Slide); ok {
		for s := (floorDiv(t+off-w.Size, w.Slide) + 1) * w.Slide; s <= t+off; s += w.Slide {
			fn(s - off)
		}
		return
	}
	last := w.lastStarting(t)
	n := w.firstEndingAfter(t)
	s := w.startOf(n)
	for ; n < last; n++ {
		next := w.startOf(n + 1)
		if s < next {
			fn(s)
		}
		s = next
	}
	fn(s)
}

// Window numbers. Window n starts at startOf(n) and ends at endOf(n); both
// are non-decreasing in n. Rules numbers close steps with them.

// startOf is the start instant of window n.
func (w Spec) startOf(n int64) int64 {
	if w.zone == nil {
		return n * w.Slide
	}
	return w.instant(n * w.Slide)
}

// endOf is the end instant of window n.
func (w Spec) endOf(n int64) int64 {
	if w.zone == nil {
		return n*w.Slide + w.Size
	}
	return w.instant(n*w.Slide + w.Size)
}

// lastStarting is the greatest n with startOf(n) <= t: the last window
// containing t (it exists: the next one starts later).
func (w Spec) lastStarting(t int64) int64 {
	if w.zone == nil {
		return floorDiv(t, w.Slide)
	}
	if off, ok := w.steady(t-w.Slide, t+w.Slide); ok {
		return floorDiv(t+off, w.Slide)
	}
	n := floorDiv(w.wall(t), w.Slide) // off by the repeated hour at most
	for w.startOf(n+1) <= t {
		n++
	}
	for w.startOf(n) > t {
		n--
	}
	return n
}

// firstEndingAfter is the least n with endOf(n) > t: the first window
// that may contain t.
func (w Spec) firstEndingAfter(t int64) int64 {
	return w.lastEnding(t) + 1
}

// lastEnding is the greatest n with endOf(n) <= t.
func (w Spec) lastEnding(t int64) int64 {
	if w.zone == nil {
		return floorDiv(t-w.Size, w.Slide)
	}
	if off, ok := w.steady(t-w.Size-w.Slide, t+w.Slide); ok {
		return floorDiv(t+off-w.Size, w.Slide)
	}
	n := floorDiv(w.wall(t)-w.Size, w.Slide)
	for w.endOf(n+1) <= t {
		n++
	}
	for w.endOf(n) > t {
		n--
	}
	return n
}

// wall is the zone's wall clock at instant t, as the Unix ms of the same
// reading in UTC.
func (w Spec) wall(t int64) int64 {
	_, off := time.UnixMilli(t).In(w.zone).Zone()
	return t + int64(off)*1000
}

// maxOffset is at least every UTC offset a zone can have (-12h to +14h),
// and every change of offset.
const maxOffset = 26 * 60 * 60 * 1000

// steady returns the zone's UTC offset, in ms, when it stays the same from
// maxOffset before from through to. Then a wall-clock boundary whose
// reading at that offset falls in [from, to] is first shown there (an
// earlier period's clock would need an offset more than maxOffset larger
// to show it): the windows there are epoch windows on the wall clock,
// shifted. That is the fast path, all year but about a day (plus a window)
// after each transition.
func (w Spec) steady(from, to int64) (int64, bool) {
	t := time.UnixMilli(from - maxOffset).In(w.zone)
	_, off := t.Zone()
	if _, end := t.ZoneBounds(); end.IsZero() || to < end.UnixMilli() {
		return int64(off) * 1000, true
	}
	return 0, false
}

// instant maps a boundary at wall clock c (wall's scale) to an instant:
// the first instant at which the zone's clock reads c, or, when the clock
// skips c, the instant of the skip (see Spec).
func (w Spec) instant(c int64) int64 {
	// Walk the zone's periods from the earliest instant that could read
	// c; in each, the one candidate is c minus the period's offset.
	u := c - maxOffset
	for {
		t := time.UnixMilli(u).In(w.zone)
		_, off := t.Zone()
		_, end := t.ZoneBounds()
		cand := c - int64(off)*1000
		if cand < u {
			// The clock jumped from before c (the previous period) to
			// after it (this one), at u.
			return u
		}
		if end.IsZero() || cand < end.UnixMilli() {
			return cand
		}
		u = end.UnixMilli()
	}
}
