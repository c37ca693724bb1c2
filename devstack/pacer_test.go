package devstack

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// member catches up for its first n questions.
type member struct {
	n, asked atomic.Int32
}

func (m *member) CatchingUp() bool { return m.asked.Add(1) <= m.n.Load() }

// TestLakePacer: the lake-writer waits while any member catches up, at
// most the hold, then runs unheld as long; a caught-up stack or an ended
// context never holds it.
func TestLakePacer(t *testing.T) {
	const hold = time.Second
	t.Run("caught up: no wait", func(t *testing.T) {
		a := &member{}
		p := newLakePacer([]catchingUp{a}, hold)
		p.Wait(context.Background())
		if n := a.asked.Load(); n != 1 {
			t.Errorf("asked %d times, want once", n)
		}
	})
	t.Run("waits for every member", func(t *testing.T) {
		a, b := &member{}, &member{}
		b.n.Store(3)
		p := newLakePacer([]catchingUp{a, b}, time.Hour)
		p.poll = time.Millisecond
		p.Wait(context.Background())
		if n := b.asked.Load(); n != 4 {
			t.Errorf("the member catching up was asked %d times, want 4 (three busy, then caught up)", n)
		}
	})
	t.Run("at most the hold, then as long unheld", func(t *testing.T) {
		a := &member{}
		a.n.Store(1 << 30)
		p := newLakePacer([]catchingUp{a}, hold)
		p.poll = time.Millisecond
		start := time.Now()
		p.Wait(context.Background())
		if took := time.Since(start); took < hold {
			t.Errorf("held %v, want the hold (%v)", took, hold)
		}
		asked := a.asked.Load()
		if !time.Now().Before(p.free) {
			t.Fatalf("no unheld period after a whole hold (free until %v)", p.free)
		}
		p.Wait(context.Background()) // within the unheld period
		if a.asked.Load() != asked {
			t.Error("held again right after a whole hold")
		}
	})
	t.Run("an ended context", func(t *testing.T) {
		a := &member{}
		a.n.Store(1 << 30)
		p := newLakePacer([]catchingUp{a}, time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		done := make(chan struct{})
		go func() { p.Wait(ctx); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Wait did not return once its context ended")
		}
	})
}
