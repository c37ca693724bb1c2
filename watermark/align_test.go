package watermark

import (
	"fmt"
	"strings"
	"testing"
)

// TestAlign walks sources through a catch-up, one step a line: the marks
// the receiver of source 0 has heard, which source is lagging, and what
// source 0's Align says after the step.
func TestAlign(t *testing.T) {
	active := func(t int64) Mark { return Mark{Time: t, Has: true} }
	type step struct {
		name    string
		marks   map[int32]Mark // observed before the step, in source order
		lagging bool           // the holder has unconsumed input
		want    string         // "paused", "running"
	}
	for _, tc := range []struct {
		name  string
		drift int64
		n     int
		steps []step
	}{
		{"pauses past the drift, resumes within half of it", 100, 2, []step{
			{"no watermark until both are heard from", map[int32]Mark{0: active(500)}, true, "running"},
			{"ahead by the drift exactly", map[int32]Mark{1: active(400)}, true, "running"},
			{"ahead by more", map[int32]Mark{0: active(501)}, true, "paused"},
			{"the holder catches up, not yet within half", map[int32]Mark{1: active(440)}, true, "paused"},
			{"within half", map[int32]Mark{1: active(451)}, true, "running"},
		}},
		{"a holder with nothing to read is waited for by its idle timeout, not by pausing", 100, 2, []step{
			{"far ahead, the holder caught up", map[int32]Mark{0: active(1000), 1: active(10)}, false, "running"},
			{"the holder has input again", nil, true, "paused"},
			{"and is caught up again", nil, false, "running"},
		}},
		{"the holder itself never pauses", 100, 2, []step{
			{"source 0 holds the minimum", map[int32]Mark{0: active(10), 1: active(1000)}, true, "running"},
		}},
		{"an idle holder leaves the minimum", 100, 3, []step{
			{"held by source 1", map[int32]Mark{0: active(1000), 1: active(10), 2: active(990)}, true, "paused"},
			{"source 1 idle: source 2 holds, within drift", map[int32]Mark{1: {Time: 10, Has: true, Idle: true}}, true, "running"},
		}},
		{"every source idle", 100, 2, []step{
			{"ahead", map[int32]Mark{0: active(1000), 1: active(10)}, true, "paused"},
			{"both idle", map[int32]Mark{0: {Time: 1000, Has: true, Idle: true}, 1: {Time: 10, Has: true, Idle: true}}, true, "running"},
		}},
		{"off", 0, 2, []step{
			{"far ahead", map[int32]Mark{0: active(1e9), 1: active(10)}, true, "running"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Merge{N: tc.n}
			a := Align{Drift: tc.drift}
			var got []string
			var want []string
			for _, s := range tc.steps {
				for src := range int32(tc.n) {
					if mk, ok := s.marks[src]; ok {
						m.Observe(src, mk)
					}
				}
				paused, _ := a.Update(0, &m, m.Progress(), s.lagging)
				state := "running"
				if paused {
					state = "paused"
				}
				got = append(got, fmt.Sprintf("%s: %s", s.name, state))
				want = append(want, fmt.Sprintf("%s: %s", s.name, s.want))
				if paused != a.Paused() {
					t.Fatalf("%s: Update said %v, Paused %v", s.name, paused, a.Paused())
				}
			}
			if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
				t.Errorf("got\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// TestAlignReportsChanges: changed is true exactly when the state flips.
func TestAlignReportsChanges(t *testing.T) {
	m := Merge{N: 2}
	m.Observe(0, Mark{Time: 1000, Has: true})
	m.Observe(1, Mark{Time: 0, Has: true})
	a := Align{Drift: 100}
	for i, want := range []bool{true, false} {
		if _, changed := a.Update(0, &m, m.Progress(), true); changed != want {
			t.Fatalf("update %d: changed %v, want %v", i, changed, want)
		}
	}
	m.Observe(1, Mark{Time: 1000, Has: true})
	if paused, changed := a.Update(0, &m, m.Progress(), true); paused || !changed {
		t.Fatalf("caught up: paused %v changed %v, want running, changed", paused, changed)
	}
}

// TestAlignNeverPausesTheHolder: a gate may hold the watermark below the
// least mark (an idle source not yet confirmed), and the source holding
// the minimum must still not pause: nothing else would move it.
func TestAlignNeverPausesTheHolder(t *testing.T) {
	m := Merge{N: 2}
	m.Observe(0, Mark{Time: 1000, Has: true})
	m.Observe(1, Mark{Time: 5000, Has: true})
	p := m.Progress()
	p.Time, p.Gated = 10, true // the gate's limit
	a := Align{Drift: 100}
	if paused, _ := a.Update(0, &m, p, true); paused {
		t.Fatal("the holder paused")
	}
	if paused, _ := a.Update(1, &m, p, true); !paused {
		t.Fatal("source 1, far ahead of the gated watermark, did not pause")
	}
}
