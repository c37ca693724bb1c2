package processors

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ticker sends a tick to every partition's control key of a windowed
// group at a fixed interval, saying whether the group has caught up with
// the partition's input. Every member runs one; duplicate ticks are
// harmless (ticks carry the wall clock, applied at most once each).
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
		caught := t.caughtUp(ctx)
		now := time.Now().UnixMilli()
		for p, key := range t.ctrl {
			b, _ := LoopCodec{}.Encode(tickMsg{Wall: now, CaughtUp: caught[int32(p)]})
			t.cl.Produce(ctx, &kgo.Record{Topic: t.loop, Partition: int32(p), Key: []byte(key), Value: b}, nil)
		}
	}
}

// caughtUp reports, per partition of the group's input, whether its
// committed offset has reached the end.
func (t *ticker) caughtUp(ctx context.Context) map[int32]bool {
	out := map[int32]bool{}
	qctx, cancel := context.WithTimeout(ctx, t.interval)
	defer cancel()
	ends, err := t.adm.ListEndOffsets(qctx, t.input)
	if err != nil {
		t.log.Debug("tick: end offsets", "err", err)
		return out
	}
	committed, err := t.adm.FetchOffsets(qctx, t.group)
	if err != nil {
		t.log.Debug("tick: committed offsets", "err", err)
		return out
	}
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(t.input, o.Partition)
		out[o.Partition] = o.Offset == 0 || ok && c.At >= o.Offset
	})
	return out
}
