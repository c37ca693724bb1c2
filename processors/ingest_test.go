package processors

import (
	"context"
	"testing"
	"time"

	"github.com/lovoo/goka"
)

// TestMarkInterval: a partition marks at the live throttle while it reads
// records appended just now, or without a timestamp, and at the catch-up
// throttle while it reads a backlog.
func TestMarkInterval(t *testing.T) {
	in := &intake{markEvery: 50 * time.Millisecond, catchUpMarkEvery: 100 * time.Millisecond}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		appended time.Time
		want     time.Duration
	}{
		{"no timestamp", time.Time{}, 50 * time.Millisecond},
		{"appended just now", now.Add(-30 * time.Millisecond), 50 * time.Millisecond},
		{"a second ago", now.Add(-catchUpAge), 50 * time.Millisecond},
		{"over a second ago", now.Add(-catchUpAge - time.Millisecond), 100 * time.Millisecond},
		{"a day ago (replay)", now.Add(-24 * time.Hour), 100 * time.Millisecond},
		{"the producer's clock ahead", now.Add(5 * time.Second), 50 * time.Millisecond},
	} {
		if got := in.markInterval(tc.appended, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestBacklogSeen: a backlog record keeps the member catching up for
// catchUpQuiet; notes within backlogResolution of the last store nothing.
func TestBacklogSeen(t *testing.T) {
	var b backlogSeen
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if b.within(now, catchUpQuiet) {
		t.Fatal("catching up before any backlog record")
	}
	b.see(now)
	b.see(now.Add(backlogResolution / 2)) // not stored
	for _, tc := range []struct {
		after time.Duration
		want  bool
	}{
		{0, true}, {catchUpQuiet - time.Millisecond, true}, {catchUpQuiet, false}, {time.Hour, false},
	} {
		if got := b.within(now.Add(tc.after), catchUpQuiet); got != tc.want {
			t.Errorf("%v after the last backlog record: catching up %v, want %v", tc.after, got, tc.want)
		}
	}
	b.see(now.Add(time.Second))
	if !b.within(now.Add(time.Second+catchUpQuiet/2), catchUpQuiet) {
		t.Error("a later backlog record did not renew it")
	}
	var none *backlogSeen
	none.see(now) // an intake without one notes nothing
}

// TestIntakeNotesBacklog: the stage's intake takes an input record's
// Kafka timestamp: a record appended over a quarter second (trailAge)
// before the wall clock makes the member catch up (Pipeline.CatchingUp's
// state), one appended just now or without a timestamp does not.
func TestIntakeNotesBacklog(t *testing.T) {
	for _, tc := range []struct {
		name string
		age  time.Duration // before the wall clock; < 0: no timestamp
		want bool
	}{
		{"no timestamp", -1, false},
		{"appended just now", 10 * time.Millisecond, false},
		{"appended a quarter second ago", trailAge, false},
		{"appended 300 ms ago", 300 * time.Millisecond, true},
		{"appended two seconds ago", 2 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessLayout(t, testRules(), 1, 1, 0, true)
			h.wall = hbase + 60*minute
			wall := time.UnixMilli(h.wall)
			var appended time.Time
			if tc.age >= 0 {
				appended = wall.Add(-tc.age)
			}
			r := hreading("d1", 1, 100, "a")
			h.inputAppended(0, r.Key(), r, appended)
			if got := h.stage.in.backlog.within(wall, catchUpQuiet); got != tc.want {
				t.Errorf("catching up %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSentEndForgottenOnStop: where an input partition's idle mark at its
// declared end went out is what the member's tickers read (and the
// intake pokes them) until goka stops the partition or hands the
// partitions out again: a next owner may read it again from an older
// commit.
func TestSentEndForgottenOnStop(t *testing.T) {
	pokes := 0
	in := &intake{poke: func() { pokes++ }}
	src := in.source(3)
	src.next, src.endsAt = 7, 7
	pctx, stop := context.WithCancel(context.Background())
	in.sentAtEnd(partitionContext{ctx: pctx}, src)
	if got := in.sentEnd(3); got != 7 || pokes != 1 {
		t.Fatalf("sent end %d after %d pokes, want 7 after 1", got, pokes)
	}
	if got := in.sentEnd(2); got != 0 {
		t.Errorf("partition 2 has sent no mark, but its sent end is %d", got)
	}
	stop()
	deadline := time.Now().Add(10 * time.Second)
	for in.sentEnd(3) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sent end outlived its partition's stop")
		}
		time.Sleep(time.Millisecond)
	}
	// A callback that sends it as the partition stops leaves none either.
	in.sentAtEnd(partitionContext{ctx: pctx}, src)
	if got := in.sentEnd(3); got != 0 {
		t.Errorf("sent end %d from a stopping partition", got)
	}
	// A rebalance drops the sources with what they sent.
	src = in.source(3)
	src.next, src.endsAt = 7, 7
	in.sentAtEnd(partitionContext{ctx: context.Background()}, src)
	in.forget(goka.Assignment{})
	if got := in.sentEnd(3); got != 0 {
		t.Errorf("sent end %d after a rebalance", got)
	}
}

// partitionContext is a callback's goka.Context whose Context is the
// partition's.
type partitionContext struct {
	callback
	ctx context.Context
}

type callback = goka.Context

func (c partitionContext) Context() context.Context { return c.ctx }
