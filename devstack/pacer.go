package devstack

import (
	"context"
	"time"
)

// catchingUp is a member that can tell whether it is reading a backlog
// (processors.Pipeline.CatchingUp).
type catchingUp interface{ CatchingUp() bool }

// lakePacer holds dev's lake-writer back while a member of the process
// trails its input (datalake.Pacer; processors.Pipeline.CatchingUp): in
// one process on a few cores the lake's batch work (decoding every
// window, writing CSV.gz and Parquet) takes CPU from the windows, which
// are what a user of dev waits for. A real MTA week produced as fast as
// it goes into dev, three alternating rounds of three runs: end to end ÷
// the producer's time 1.80/1.78/1.75 and 1.74/1.83/1.91 without,
// 1.44/1.64/1.48 and 1.62/1.67/1.57 with it (members trailing by over a
// second; by over a quarter second since, see docs/architecture.md).
// Production runs turnstile lake apart from the members and has none.
//
// It holds the writer at most hold at a time (the lake's flush
// interval); after a hold that long the writer runs unheld as long, so a
// backlog that never ends still leaves the lake half of the time. Wait is
// called from the writer's Run goroutine only.
type lakePacer struct {
	members []catchingUp
	hold    time.Duration
	poll    time.Duration // how often a held writer asks again
	free    time.Time     // unheld until then
}

func newLakePacer(members []catchingUp, hold time.Duration) *lakePacer {
	return &lakePacer{members: members, hold: hold, poll: 20 * time.Millisecond}
}

func (p *lakePacer) Wait(ctx context.Context) {
	start := time.Now()
	if start.Before(p.free) || !p.busy() {
		return
	}
	t := time.NewTicker(p.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if !p.busy() {
				return
			}
			if now.Sub(start) >= p.hold {
				p.free = now.Add(p.hold)
				return
			}
		}
	}
}

// busy says whether a member reads a backlog.
func (p *lakePacer) busy() bool {
	for _, m := range p.members {
		if m.CatchingUp() {
			return true
		}
	}
	return false
}
