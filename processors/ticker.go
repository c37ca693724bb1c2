package processors

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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

// lagSource is a consumer group reading a topic.
type lagSource struct{ group, topic string }

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
			b, _ := LoopCodec{}.Encode(tickMsg{Wall: now, CaughtUp: caught[int32(p)]})
			t.cl.Produce(ctx, &kgo.Record{Topic: t.loop, Partition: int32(p), Key: []byte(key), Value: b}, nil)
		}
	}
}

// caughtUp reports, per partition of the group's input, whether its
// committed offset has reached the end. Any error means "not caught up":
// idling late is safe, early is not.
func (t *ticker) caughtUp(ctx context.Context) map[int32]bool {
	qctx, cancel := context.WithTimeout(ctx, t.interval)
	defer cancel()
	lag, err := t.partitionLag(qctx, lagSource{t.group, t.input})
	if err != nil {
		t.log.Debug("tick: lag", "err", err)
		return nil
	}
	out := map[int32]bool{}
	for p, l := range lag {
		out[p] = l == 0
	}
	return out
}

// partitionLag is end offset minus committed offset per partition; a
// partition with no commit counts the records it holds (end minus log
// start). A partition whose offsets could not be listed is an error, not
// lag 0: unknown is never caught up.
func (t *ticker) partitionLag(ctx context.Context, src lagSource) (map[int32]int64, error) {
	ends, err := t.adm.ListEndOffsets(ctx, src.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("processors: end offsets of %s: %w", src.topic, err)
	}
	starts, err := t.adm.ListStartOffsets(ctx, src.topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("processors: start offsets of %s: %w", src.topic, err)
	}
	committed, err := t.adm.FetchOffsets(ctx, src.group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("processors: committed offsets of %s: %w", src.group, err)
	}
	return lagOf(src.topic, starts, ends, committed), nil
}

// lagOf computes per-partition lag from listed offsets and commits.
func lagOf(topic string, starts, ends kadm.ListedOffsets, committed kadm.OffsetResponses) map[int32]int64 {
	lag := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok {
			start = s.Offset
		}
		c, ok := committed.Lookup(topic, o.Partition)
		switch {
		case !ok || c.At < 0:
			lag[o.Partition] = max(0, o.Offset-start)
		default:
			lag[o.Partition] = max(0, o.Offset-max(c.At, start))
		}
	})
	return lag
}
