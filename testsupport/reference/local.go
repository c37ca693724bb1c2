package reference

import (
	"fmt"
	"time"
)

// Windows aligned to local midnight (Params.Zone), by the definition,
// walking the zone's calendar days with time.Date: every local day D has
// the windows that start at D 00:00 + j*slide on its wall clock (j =
// 0 .. 24h/slide - 1) and end size later on the wall clock. A wall-clock
// boundary is the first instant the zone's clock shows it (the first pass
// of a repeated hour), or, when the clocks skip it, the instant they skip
// at. A window that starts at the same instant as the next window is not a
// window. A time belongs to every window with START <= t < END.
//
// It assumes a zone changes its offset at most once between noon the day
// before a boundary and noon the day after (true of every zone the tests
// use).

// localWindow is one window: its start and end instants, Unix ms.
type localWindow struct{ start, end int64 }

// localStarts returns the starts of the windows containing t.
func localStarts(p Params, t int64) []int64 {
	var out []int64
	for _, w := range localWindowsAround(p, t) {
		if w.start <= t && t < w.end {
			out = append(out, w.start)
		}
	}
	return out
}

// End is the end of the window starting at start, Unix ms (for epoch
// alignment start + size), and false when no window starts there.
func (p Params) End(start int64) (int64, bool) {
	if p.Zone == nil {
		return start + p.SizeMs, (start%p.SlideMs+p.SlideMs)%p.SlideMs == 0
	}
	for _, w := range localWindowsAround(p, start) {
		if w.start == start {
			return w.end, true
		}
	}
	return 0, false
}

// localWindowsAround lists the windows that start on the local days from
// a window length before t's local date to the day after it.
func localWindowsAround(p Params, t int64) []localWindow {
	size, slide := time.Duration(p.SizeMs)*time.Millisecond, time.Duration(p.SlideMs)*time.Millisecond
	if (24*time.Hour)%slide != 0 {
		panic(fmt.Sprintf("reference: local windows need a slide that divides 24h, not %v", slide))
	}
	y, m, d := time.UnixMilli(t).In(p.Zone).Date()
	back := int(size/(24*time.Hour)) + 2
	var out []localWindow
	for day := -back; day <= 1; day++ {
		// The calendar day, normalized (d+day may leave the month).
		date := time.Date(y, m, d+day, 0, 0, 0, 0, time.UTC)
		for j := time.Duration(0); j < 24*time.Hour; j += slide {
			ws := date.Add(j) // wall clocks, written as UTC times
			s := wallInstant(p.Zone, ws)
			if s == wallInstant(p.Zone, ws.Add(slide)) {
				continue // starts with the next window: none
			}
			out = append(out, localWindow{s, wallInstant(p.Zone, ws.Add(size))})
		}
	}
	return out
}

// wallInstant is the instant of wall clock w (its fields are the zone's
// local date and clock), Unix ms: the earliest instant the zone's clock
// shows it, or the instant the clocks skip over it.
func wallInstant(zone *time.Location, w time.Time) int64 {
	y, m, d := w.Date()
	// The offsets around: at noon the day before and the day after.
	_, before := time.Date(y, m, d-1, 12, 0, 0, 0, zone).Zone()
	_, after := time.Date(y, m, d+1, 12, 0, 0, 0, zone).Zone()
	best, found := int64(0), false
	for _, off := range []int{before, after} {
		u := w.Add(-time.Duration(off) * time.Second)
		local := u.In(zone)
		if local.Year() == y && local.Month() == m && local.Day() == d && local.Hour() == w.Hour() &&
			local.Minute() == w.Minute() && local.Second() == w.Second() && (!found || u.UnixMilli() < best) {
			best, found = u.UnixMilli(), true
		}
	}
	if found {
		return best
	}
	// Skipped: the clocks jumped forward from offset before to after
	// between w read with after and w read with before; find the first
	// millisecond with offset after by bisection.
	lo, hi := w.Add(-time.Duration(after)*time.Second).UnixMilli(), w.Add(-time.Duration(before)*time.Second).UnixMilli()
	for lo < hi {
		mid := lo + (hi-lo)/2
		if _, off := time.UnixMilli(mid).In(zone).Zone(); off == after {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
