package watermark

import "slices"

// Gate keeps a receiver's watermark from outrunning an idle source whose
// input has resumed. An idle source says so once, and receivers learn
// that it has input again only from its next mark; meanwhile a faster
// source's marks could move their watermark past the new input, which
// would then be late (in a backfill produced in event order, days late).
//
// The gate closes that race with the ticks. Each tick says which sources
// had unconsumed input (their group's lag) when it was measured, at its
// wall time. A source with lag counts as active, holding the minimum at
// its last time, whatever its last mark said. And while any source counts
// as idle, the watermark moves only as far as the merge had reached
// before the newest tick was measured: the merge is sampled at every tick
// and a sample becomes the limit once a later tick, measured after it,
// still finds the idle sources without input. Input that reaches an idle
// source is thus late only if it is older than the rest of the stream was
// before it arrived, which is the contract of idleness in Flink too. With
// no idle source the gate changes nothing; with one, windows close about
// a tick later than without the gate.
//
// Sample times are the receiver's clock, tick times the ticker's: members'
// clocks are assumed to agree to well within a tick interval (NTP). The
// zero Gate is closed: it opens after two ticks with known lag.
//
// A Gate belongs to one goroutine; it is not durable (a new owner of the
// partition starts closed, which only delays closes).
type Gate struct {
	lagging  map[int32]bool
	lastTick int64 // the newest tick applied (ticker's Unix ms)
	samples  []sample
	limit    int64
	hasLimit bool
}

// sample is the merge's time at the receiver's clock at.
type sample struct {
	at   int64
	time int64
	has  bool
}

// maxSamples bounds the samples kept while ticks are slow to arrive: a
// sample is promoted by a tick measured after it, so up to this many tick
// intervals of delay between measuring a tick and applying it (8 s at the
// pipeline's 100 ms ticks) still open the gate.
const maxSamples = 80

// Tick applies a tick measured at wall (the ticker's clock, Unix ms) and
// applied at now (the receiver's): lagging lists the sources that had
// unconsumed input then. known false (the ticker could not measure) and a
// tick older than one already applied (another member's ticker) change
// nothing.
func (g *Gate) Tick(m *Merge, wall, now int64, lagging []int32, known bool) {
	if !known || wall <= g.lastTick {
		return
	}
	g.lastTick = wall
	// The newest sample taken before the tick was measured becomes the
	// limit: the sources idle in it had no input at the tick.
	if i := lastBefore(g.samples, wall); i >= 0 {
		g.limit, g.hasLimit = g.samples[i].time, g.samples[i].has
		g.samples = slices.Delete(g.samples, 0, i+1)
	}
	clear(g.lagging)
	for _, s := range lagging {
		if g.lagging == nil {
			g.lagging = map[int32]bool{}
		}
		g.lagging[s] = true
	}
	p := m.progress(g.lagging)
	if len(g.samples) == maxSamples {
		g.samples = slices.Delete(g.samples, 0, 1)
	}
	g.samples = append(g.samples, sample{at: now, time: p.Time, has: p.Has})
}

func lastBefore(samples []sample, wall int64) int {
	i := -1
	for j, s := range samples {
		if s.at < wall {
			i = j
		}
	}
	return i
}

// Progress is m's Progress with the lagging sources counted as active and,
// while any source is idle, the time held to the gate's limit.
func (g *Gate) Progress(m *Merge) Progress {
	p := m.progress(g.lagging)
	if p.Idle == 0 || !p.Has {
		return p
	}
	switch {
	case !g.hasLimit:
		p.Time, p.Has, p.Gated = 0, false, true
	case g.limit < p.Time:
		p.Time, p.Gated = g.limit, true
	}
	return p
}

// Lagging says whether the newest tick found source s with unconsumed
// input.
func (g *Gate) Lagging(s int32) bool { return g.lagging[s] }
