package processors

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/internal/grouplag"
	"github.com/turnstile-streams/turnstile/wire"
)

// ticker sends a tick to every partition's control key of a group's
// loopback topic at a fixed interval with the wall clock and, when input
// is set, whether the group has caught up with that partition of its
// input (the ingest stage marks a source idle only then). Every member
// runs one; duplicate ticks are harmless (each is applied at most once,
// and a stale one changes nothing).
type ticker struct {
	cl       *kgo.Client
	adm      *kadm.Client
	group    string
	input    string
	loop     string
	ctrl     []string
	interval time.Duration
	log      *slog.Logger
}

func (t *ticker) run(ctx context.Context) error {
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
		var caught map[int32]bool
		if t.input != "" {
			caught = t.caughtUp(ctx)
		}
		now := time.Now().UnixMilli()
		for p, key := range t.ctrl {
			b, _ := wire.LoopCodec{}.Encode(wire.Tick{Wall: now, CaughtUp: caught[int32(p)]})
			t.cl.Produce(ctx, &kgo.Record{Topic: t.loop, Partition: int32(p), Key: []byte(key), Value: b}, nil)
		}
	}
}

// caughtUp reports, per partition of the group's input, whether its
// committed offset has reached the end (the lag of package grouplag, the
// one definition status uses too). Any error means "not caught up": idling
// late is safe, early is not; so does a partition whose lag is unknown.
func (t *ticker) caughtUp(ctx context.Context) map[int32]bool {
	qctx, cancel := context.WithTimeout(ctx, t.interval)
	defer cancel()
	lag, err := grouplag.Fetch(qctx, t.adm, t.group, t.input)
	if err != nil {
		t.log.Debug("tick: lag", "err", err)
		return nil
	}
	out := map[int32]bool{}
	for p, l := range lag[t.input] {
		out[p] = l.Err == nil && l.Lag == 0
	}
	return out
}
