package processors

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/internal/grouplag"
	"github.com/turnstile-streams/turnstile/wire"
)

// ticker sends a tick to every partition's control key of a group's
// loopback topic at a fixed interval with the wall clock and, when lagTopic
// is set, what the lag of lagGroup on lagTopic was: which of its
// partitions had unconsumed input (every receiver's watermark.Gate reads
// it) and whether the loop partition's own one has none (the stage that
// reads the input marks a source idle only then). Every member runs one;
// duplicate ticks are harmless (each is applied at most once, and a stale
// one changes nothing).
type ticker struct {
	cl       *kgo.Client
	adm      *kadm.Client
	lagGroup string
	lagTopic string
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
		// The wall clock before the lag is measured: the lag covers at
		// least what was written to the input by then.
		tick := wire.Tick{Wall: time.Now().UnixMilli()}
		var caught map[int32]bool
		if t.lagTopic != "" {
			caught, tick.Lagging, tick.LagKnown = t.lag(ctx)
		}
		for p, key := range t.ctrl {
			tick.CaughtUp = caught[int32(p)]
			b, _ := wire.LoopCodec{}.Encode(tick)
			t.cl.Produce(ctx, &kgo.Record{Topic: t.loop, Partition: int32(p), Key: []byte(key), Value: b}, nil)
		}
	}
}

// lag reports, per partition of lagTopic, whether lagGroup's committed
// offset has reached the end (the lag of package grouplag, the one
// definition status uses too), and lists the partitions that have not
// (ascending). Unknown lag is never "caught up": idling late is safe,
// early is not. known is false when the lag could not be fetched at all.
func (t *ticker) lag(ctx context.Context) (caught map[int32]bool, lagging []int32, known bool) {
	qctx, cancel := context.WithTimeout(ctx, t.interval)
	defer cancel()
	lag, err := grouplag.Fetch(qctx, t.adm, t.lagGroup, t.lagTopic)
	if err != nil {
		t.log.Debug("tick: lag", "err", err)
		return nil, nil, false
	}
	caught = map[int32]bool{}
	for p, l := range lag[t.lagTopic] {
		caught[p] = l.Err == nil && l.Lag == 0
		if !caught[p] {
			lagging = append(lagging, p)
		}
	}
	slices.Sort(lagging)
	return caught, lagging, true
}
