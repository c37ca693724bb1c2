package processors

import (
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/turnstile-streams/turnstile/watermark"
	"github.com/turnstile-streams/turnstile/wire"
)

// DefaultAlignDrift is Config.AlignDrift's default. make bench (2 million
// readings, 5-minute windows, one member): without alignment a partition
// ran up to 4 days of event time ahead of the slowest, and the changelog
// took 1,614 MB; with 6h it took 872 MB and restored twice as fast. Once
// the stage applied ~150,000 readings/s, 6h paused partitions so often
// that a core stood idle (1.75 of 2 busy): 24h kept both busy, applied
// 12-20 % more readings per second, and left a smaller changelog (801-803
// against 871-892 MB), docs/architecture.md, "Alignment while catching up".
const DefaultAlignDrift = 24 * time.Hour

// inputPauser stops and restarts fetching one input partition.
type inputPauser interface {
	pauseInput(partition int32, pause bool)
}

// groupPauser pauses input partitions through the sarama consumer group of
// the windowed stage's goka processor, which its builder keeps (goka does
// not expose it). A processor restarted by supervise builds a new group:
// the newest is the one that fetches. A new group session starts with
// every partition fetching (sarama's partition consumers are new), and goka
// opens every partition's storage again, so the partition's clock, and its
// Align, start unpaused too: the next mark decides again.
type groupPauser struct {
	topic string
	mu    sync.Mutex
	cg    sarama.ConsumerGroup
}

// builder wraps goka's consumer group builder to keep the group it builds.
func (g *groupPauser) builder(b goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := b(brokers, group, clientID)
		if err == nil {
			g.mu.Lock()
			g.cg = cg
			g.mu.Unlock()
		}
		return cg, err
	}
}

func (g *groupPauser) pauseInput(p int32, pause bool) {
	g.mu.Lock()
	cg := g.cg
	g.mu.Unlock()
	tp := map[string][]int32{g.topic: {p}}
	switch {
	case cg == nil:
	case pause:
		cg.Pause(tp)
	default:
		cg.Resume(tp)
	}
}

// align applies watermark alignment to the partition's input (the direct
// layout: input partition p feeds device partition p). It runs on the
// control key after every mark and tick, and pauses the input partition
// while the partition's own source mark is more than the drift ahead of
// the watermark and the source holding the watermark back has input to
// read; it resumes it within half the drift (watermark.Align).
func (w *stage) align(ctx goka.Context, c *partClock, meta *wire.PartitionMeta, prog watermark.Progress) {
	if w.pauser == nil {
		return
	}
	p := ctx.Partition()
	if paused, changed := c.align.Update(p, &meta.Sources, prog, c.gate.Lagging(prog.Holder)); changed {
		w.pauser.pauseInput(p, paused)
		w.metrics.setPaused(w.name, p, paused)
	}
}
