package watermark

import (
	"fmt"
	"testing"
	"time"
)

func TestMergeProgress(t *testing.T) {
	active := func(t int64) Mark { return Mark{Time: t, Has: true} }
	idle := func(t int64) Mark { return Mark{Time: t, Has: true, Idle: true} }
	type obs struct {
		src int32
		mk  Mark
	}
	for _, tc := range []struct {
		name string
		n    int
		obs  []obs
		want Progress
	}{
		{"nothing heard", 3, nil, Progress{Holder: 0, Waiting: 3}},
		{"one source missing holds everything back", 3, []obs{{0, active(50)}, {2, active(10)}},
			Progress{Holder: 1, Waiting: 1}},
		{"least of the active sources", 3, []obs{{0, active(50)}, {1, active(30)}, {2, active(40)}},
			Progress{Time: 30, Has: true, Holder: 1}},
		{"an idle source leaves the minimum", 3, []obs{{0, active(50)}, {1, idle(30)}, {2, active(40)}},
			Progress{Time: 40, Has: true, Holder: 2, Idle: 1}},
		{"an idle source without data counts as heard", 2, []obs{{0, active(50)}, {1, Mark{Idle: true}}},
			Progress{Time: 50, Has: true, Holder: 0, Idle: 1}},
		{"all idle: the greatest time", 3, []obs{{0, idle(50)}, {1, idle(30)}, {2, Mark{Idle: true}}},
			Progress{Time: 50, Has: true, AllIdle: true, Holder: -1, Idle: 3}},
		{"all idle, no data at all", 2, []obs{{0, Mark{Idle: true}}, {1, Mark{Idle: true}}},
			Progress{AllIdle: true, Holder: -1, Idle: 2}},
		{"active without data waits", 2, []obs{{0, active(50)}, {1, Mark{}}},
			Progress{Holder: 1, Waiting: 1}},
		{"time never goes back", 1, []obs{{0, active(50)}, {0, active(20)}},
			Progress{Time: 50, Has: true, Holder: 0}},
		{"rejoining keeps the old time", 2, []obs{{0, active(50)}, {1, idle(90)}, {1, Mark{}}},
			Progress{Time: 50, Has: true, Holder: 0}},
		{"sources beyond N are ignored", 1, []obs{{0, active(50)}, {5, active(1)}},
			Progress{Time: 50, Has: true, Holder: 0}},
		{"no sources", 0, nil, Progress{Holder: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Merge{N: tc.n}
			for _, o := range tc.obs {
				m.Observe(o.src, o.mk)
			}
			if got := m.Progress(); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestMergeObserveReportsChange(t *testing.T) {
	m := Merge{N: 2}
	steps := []struct {
		mk   Mark
		want bool
	}{
		{Mark{Time: 10, Has: true}, true},
		{Mark{Time: 10, Has: true}, false}, // redelivered
		{Mark{Time: 5, Has: true}, false},  // older
		{Mark{Time: 5, Has: true, Idle: true}, true},
		{Mark{Idle: true}, false},
		{Mark{}, true}, // active again
	}
	for i, s := range steps {
		if got := m.Observe(0, s.mk); got != s.want {
			t.Fatalf("step %d: changed = %v, want %v", i, got, s.want)
		}
	}
}

func TestClockNeverGoesBack(t *testing.T) {
	var c Clock
	for _, s := range []struct {
		t    int64
		want bool
	}{{10, true}, {10, false}, {5, false}, {11, true}} {
		if got := c.Advance(s.t); got != s.want {
			t.Fatalf("Advance(%d) = %v, want %v", s.t, got, s.want)
		}
	}
	if c.Time != 11 {
		t.Fatalf("clock at %d", c.Time)
	}
}

func TestSourceLifecycle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var s Source
	// A fresh source announces itself before its first record.
	if mk, ok := s.Announce(t0); !ok || mk.Has || mk.Idle {
		t.Fatalf("first announce = %+v, %v", mk, ok)
	}
	if _, ok := s.Announce(t0); ok {
		t.Fatal("announced twice")
	}
	s.Observe(100)
	// Throttled: the first mark goes at once (nothing was sent since the
	// announce at t0? the announce counts), later ones every interval.
	if _, ok := s.Due(t0.Add(10*time.Millisecond), 100*time.Millisecond); ok {
		t.Fatal("due before the interval")
	}
	if mk, ok := s.Due(t0.Add(100*time.Millisecond), 100*time.Millisecond); !ok || mk.Time != 100 {
		t.Fatalf("due = %+v, %v", mk, ok)
	}
	if _, ok := s.Flush(t0.Add(time.Second)); ok {
		t.Fatal("flush without progress")
	}
	s.Observe(90) // out of order: no progress
	if _, ok := s.Flush(t0.Add(time.Second)); ok {
		t.Fatal("flush after an older reading")
	}
	s.Observe(120)
	if mk, ok := s.Flush(t0.Add(time.Second)); !ok || mk.Time != 120 {
		t.Fatalf("flush = %+v, %v", mk, ok)
	}
	// Idle only when caught up and silent for the timeout, and once.
	last := t0 // the last input was at t0
	if _, ok := s.Idle(last.Add(5*time.Second), false, 3*time.Second, 2*time.Second); ok {
		t.Fatal("idle while not caught up")
	}
	if _, ok := s.Idle(last.Add(time.Second), true, 0, 2*time.Second); ok {
		t.Fatal("idle before the timeout")
	}
	if _, ok := s.Idle(last.Add(time.Second), true, 1999*time.Millisecond, 2*time.Second); ok {
		t.Fatal("idle before the timeout, with the log quiet for less")
	}
	if _, ok := s.Idle(last.Add(5*time.Second), true, 9*time.Second, 0); ok {
		t.Fatal("idle with idleness off")
	}
	mk, ok := s.Idle(last.Add(5*time.Second), true, 0, 2*time.Second)
	if !ok || !mk.Idle || mk.Time != 120 {
		t.Fatalf("idle = %+v, %v", mk, ok)
	}
	if _, ok := s.Idle(last.Add(9*time.Second), true, 9*time.Second, 2*time.Second); ok {
		t.Fatal("idle sent twice")
	}
	// New input after idling: announce active again, with the time reached.
	if mk, ok := s.Announce(last.Add(10 * time.Second)); !ok || mk.Idle || mk.Time != 120 {
		t.Fatalf("rejoin = %+v, %v", mk, ok)
	}
	// Caught up on input whose log stopped growing long before it was
	// read: idle at once, not timeout after the last record.
	if _, ok := s.Idle(last.Add(10*time.Second+time.Millisecond), true, 0, 2*time.Second); ok {
		t.Fatal("idle right after input, with the log's quiet unknown")
	}
	if mk, ok := s.Idle(last.Add(10*time.Second+time.Millisecond), true, 5*time.Second, 2*time.Second); !ok || !mk.Idle {
		t.Fatalf("idle after catching up on a quiet log = %+v, %v", mk, ok)
	}
}

// TestSourceSteps: with steps, a mark that stays within one step is not
// sent by Due (nothing downstream can change), only by Flush.
func TestSourceSteps(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := Source{Steps: func(t int64) int64 { return t / 100 }}
	s.Announce(t0)
	s.Observe(120)
	if mk, ok := s.Due(t0, 0); !ok || mk.Time != 120 {
		t.Fatalf("first mark = %+v, %v", mk, ok)
	}
	s.Observe(180) // same step
	if _, ok := s.Due(t0, 0); ok {
		t.Fatal("a mark within the step was due")
	}
	s.Observe(205) // next step
	if mk, ok := s.Due(t0, 0); !ok || mk.Time != 205 {
		t.Fatalf("mark into the next step = %+v, %v", mk, ok)
	}
	s.Observe(250)
	if mk, ok := s.Flush(t0); !ok || mk.Time != 250 {
		t.Fatalf("flush within the step = %+v, %v", mk, ok)
	}
}

func TestSourceNeverIdleWithoutTimeout(t *testing.T) {
	var s Source
	now := time.Unix(0, 0)
	for i := range 10 {
		if _, ok := s.Idle(now.Add(time.Duration(i)*time.Hour), true, 0, 0); ok {
			t.Fatal("idle with timeout 0")
		}
	}
}

// A receiver of three re-keyed sources closes a window only once every
// source has passed it; an idle source stops holding it back.
func ExampleMerge() {
	m := Merge{N: 3}
	m.Observe(0, Mark{Time: 600, Has: true})
	m.Observe(1, Mark{Time: 300, Has: true})
	fmt.Println(m.Progress().Has) // source 2 not heard from
	m.Observe(2, Mark{Time: 900, Has: true})
	p := m.Progress()
	fmt.Println(p.Time, p.Holder)
	m.Observe(1, Mark{Time: 300, Has: true, Idle: true})
	p = m.Progress()
	fmt.Println(p.Time, p.Holder)
	// Output:
	// false
	// 300 1
	// 600 0
}

// TestGate: while a source is idle, the watermark moves only to what the
// merge reached before a tick that still found the idle sources without
// input; a source with lag holds the minimum; with no idle source the gate
// changes nothing.
func TestGate(t *testing.T) {
	active := func(t int64) Mark { return Mark{Time: t, Has: true} }
	idle := func(t int64) Mark { return Mark{Time: t, Has: true, Idle: true} }
	type step struct {
		src     int32 // a mark from src (tick false)
		mk      Mark
		tick    bool // a tick measured at wall, applied at now
		wall    int64
		now     int64
		lagging []int32
		unknown bool
		want    Progress // after the step
	}
	mark := func(src int32, mk Mark, want Progress) step { return step{src: src, mk: mk, want: want} }
	tick := func(wall, now int64, lagging []int32, want Progress) step {
		return step{tick: true, wall: wall, now: now, lagging: lagging, want: want}
	}
	for _, tc := range []struct {
		name  string
		n     int
		steps []step
	}{
		{"no idle source: the merge as it is", 2, []step{
			mark(0, active(50), Progress{Holder: 1, Waiting: 1}),
			mark(1, active(40), Progress{Time: 40, Has: true, Holder: 1}),
		}},
		{"an idle source closes the gate until two ticks", 2, []step{
			mark(0, active(50), Progress{Holder: 1, Waiting: 1}),
			mark(1, idle(10), Progress{Holder: 0, Idle: 1, Gated: true}),
			// The first tick samples the merge (50); nothing is promoted yet.
			tick(1000, 1000, nil, Progress{Holder: 0, Idle: 1, Gated: true}),
			mark(0, active(90), Progress{Holder: 0, Idle: 1, Gated: true}),
			// The second tick, measured after the sample, promotes it.
			tick(2000, 2000, nil, Progress{Time: 50, Has: true, Holder: 0, Idle: 1, Gated: true}),
			tick(3000, 3000, nil, Progress{Time: 90, Has: true, Holder: 0, Idle: 1}),
		}},
		{"input at an idle source holds the minimum at its last time", 2, []step{
			mark(0, active(50), Progress{Holder: 1, Waiting: 1}),
			mark(1, idle(10), Progress{Holder: 0, Idle: 1, Gated: true}),
			tick(1000, 1000, nil, Progress{Holder: 0, Idle: 1, Gated: true}),
			tick(2000, 2000, []int32{1}, Progress{Time: 10, Has: true, Holder: 1}),
			// Its mark says it is active again; its lag gone, it still holds.
			mark(1, Mark{}, Progress{Time: 10, Has: true, Holder: 1}),
			tick(3000, 3000, nil, Progress{Time: 10, Has: true, Holder: 1}),
		}},
		{"a sample is promoted only by a tick measured after it", 2, []step{
			mark(0, active(50), Progress{Holder: 1, Waiting: 1}),
			mark(1, idle(10), Progress{Holder: 0, Idle: 1, Gated: true}),
			tick(1000, 1500, nil, Progress{Holder: 0, Idle: 1, Gated: true}),
			// Measured at 1200, before the sample taken at 1500.
			tick(1200, 1600, nil, Progress{Holder: 0, Idle: 1, Gated: true}),
			tick(1550, 1700, nil, Progress{Time: 50, Has: true, Holder: 0, Idle: 1}),
		}},
		{"a tick without lag, or older than one applied, changes nothing", 2, []step{
			mark(0, active(50), Progress{Holder: 1, Waiting: 1}),
			mark(1, idle(10), Progress{Holder: 0, Idle: 1, Gated: true}),
			tick(1000, 1000, nil, Progress{Holder: 0, Idle: 1, Gated: true}),
			{tick: true, wall: 2000, now: 2000, unknown: true, want: Progress{Holder: 0, Idle: 1, Gated: true}},
			tick(900, 2100, nil, Progress{Holder: 0, Idle: 1, Gated: true}),
			tick(2200, 2200, nil, Progress{Time: 50, Has: true, Holder: 0, Idle: 1}),
		}},
		{"all idle: the greatest time, gated alike", 2, []step{
			mark(0, idle(50), Progress{Holder: 1, Waiting: 1, Idle: 1}),
			mark(1, idle(70), Progress{AllIdle: true, Holder: -1, Idle: 2, Gated: true}),
			tick(1000, 1000, nil, Progress{AllIdle: true, Holder: -1, Idle: 2, Gated: true}),
			tick(2000, 2000, nil, Progress{Time: 70, Has: true, AllIdle: true, Holder: -1, Idle: 2}),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Merge{N: tc.n}
			var g Gate
			for i, s := range tc.steps {
				if s.tick {
					g.Tick(&m, s.wall, s.now, s.lagging, !s.unknown)
				} else {
					m.Observe(s.src, s.mk)
				}
				if got := g.Progress(&m); got != s.want {
					t.Fatalf("step %d: got %+v, want %+v", i, got, s.want)
				}
			}
		})
	}
}
