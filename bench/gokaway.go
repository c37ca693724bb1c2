package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
)

// jsonCodec is the goka codec most goka code uses for values.
type jsonCodec[T any] struct{}

func (jsonCodec[T]) Encode(v any) ([]byte, error) { return json.Marshal(v) }

func (jsonCodec[T]) Decode(b []byte) (any, error) {
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}

// gokaDevice is the usual goka way's table value: the running window and
// the next input offset to apply. Goka is at-least-once: after a rebalance
// (on a loaded machine a session can time out) it redelivers the records
// since the last commit, which the state has already absorbed; without the
// offset they would be counted twice. It is the one guard any goka code
// that counts needs, and it rides in the same value and SetValue.
type gokaDevice struct {
	deviceState
	Next int64 `json:"next"`
}

// runGoka is "the usual goka way": one goka processor over the input (keyed
// by reading key: one key per device), goka's default LevelDB storage and
// sarama settings, a JSON value per device written with one SetValue per
// reading, a window emitted when the device's next reading falls in a later
// window. No re-key hop, no station rollup; its only
// exactly-once machinery is skipping redelivered offsets (gokaDevice). The
// windows still open at the end are emitted by a goka visitor once every
// reading has been processed.
//
// It reads the input's first ends[p] records of each partition p (the
// preloaded ones) and ignores any appended after them.
func runGoka(ctx context.Context, e *env, cfg *Config, input string, ends map[int32]int64, n int64, want Digest, say func(string, ...any)) (Variant, error) {
	v := Variant{Name: "usual goka", Members: 1, Readings: n}
	const group = "bench-usual-goka"
	sink := group + "-windows"
	if err := e.createTopic(ctx, sink, int32(cfg.Partitions), nil); err != nil {
		return v, err
	}
	codec, err := e.readingCodec(input)
	if err != nil {
		return v, err
	}
	w := windower{size: cfg.Window.Milliseconds(), maxDelta: cfg.MaxDelta}
	var (
		processed, first, outOfOrder, redelivered atomic.Int64
	)
	emit := func(ctx goka.Context, cw closedWindow) {
		ctx.Emit(goka.Stream(sink), fmt.Sprintf("%s|%d", cw.Device, cw.Start), &cw)
	}
	graph := goka.DefineGroup(goka.Group(group),
		goka.Input(goka.Stream(input), codec, func(ctx goka.Context, msg any) {
			first.CompareAndSwap(0, time.Now().UnixNano())
			if ctx.Offset() >= ends[ctx.Partition()] {
				return // appended after the preload (the restore phase's restarts)
			}
			r := msg.(*schemas.Reading)
			s, _ := ctx.Value().(*gokaDevice)
			if s == nil {
				s = &gokaDevice{}
			}
			if ctx.Offset() < s.Next {
				redelivered.Add(1)
				return
			}
			t, err := r.ParseEventTime()
			if err != nil {
				ctx.Fail(err)
			}
			if cw, ok := w.apply(&s.deviceState, ctx.Key(), r.Station, r.LineName, t.UnixMilli(), r.Entries, r.Exits); ok {
				emit(ctx, cw)
			}
			s.Next = ctx.Offset() + 1
			ctx.SetValue(s)
			processed.Add(1)
		}),
		goka.Visitor("flush", func(ctx goka.Context, _ any) {
			if s, _ := ctx.Value().(*gokaDevice); s != nil && s.Has {
				if s.OutOfOrder {
					outOfOrder.Add(1)
				}
				emit(ctx, s.window(ctx.Key()))
			}
		}),
		goka.Persist(jsonCodec[gokaDevice]{}),
		goka.Output(goka.Stream(sink), jsonCodec[closedWindow]{}),
	)
	sc := goka.DefaultConfig()
	// Needed to read a preloaded topic at all: goka starts new groups at
	// the newest offset.
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1 // one embedded broker
	proc, err := goka.NewProcessor(e.brokers(), graph,
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, tm)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(sc)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(sc)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithStorageBuilder(storage.DefaultBuilder(filepath.Join(e.dir, "usual-goka"))),
		goka.WithLogger(gokaDiscard{}))
	if err != nil {
		return v, fmt.Errorf("bench: usual goka: %w", err)
	}
	rss := startRSSPeak()
	begin := time.Now()
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- proc.Run(pctx) }()
	stop := func() error {
		cancel()
		return <-done
	}
	wctx, wcancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer wcancel()
	poll := func(every time.Duration, ok func() bool, what string) error {
		for !ok() {
			select {
			case err := <-done:
				done <- err
				return fmt.Errorf("bench: usual goka stopped while waiting for %s: %v", what, err)
			case <-wctx.Done():
				return fmt.Errorf("bench: usual goka: waiting for %s: %w", what, wctx.Err())
			case <-time.After(every):
			}
		}
		return nil
	}
	if err := poll(5*time.Millisecond, func() bool { return first.Load() != 0 }, "the first reading"); err != nil {
		return v, errorsJoin(err, stop())
	}
	t0 := time.Unix(0, first.Load())
	u0 := processUsage()
	v.StartupSeconds = t0.Sub(begin).Seconds()
	say("usual goka: first reading after %.1fs", v.StartupSeconds)
	last := time.Now()
	if err := poll(20*time.Millisecond, func() bool {
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			p := processed.Load()
			say("usual goka: %d of %d readings (%.0f/s)", p, n, float64(p)/time.Since(t0).Seconds())
		}
		return processed.Load() >= n
	}, "every reading"); err != nil {
		return v, errorsJoin(err, stop())
	}
	v.ProcessedSeconds = time.Since(t0).Seconds()
	if err := proc.VisitAll(wctx, "flush", nil); err != nil {
		return v, errorsJoin(fmt.Errorf("bench: usual goka: flush: %w", err), stop())
	}
	end, err := e.waitEnds(wctx, map[string]int64{sink: want.Windows}, 20*time.Millisecond)
	if err != nil {
		return v, errorsJoin(err, stop())
	}
	v.finish(t0, end, u0)
	v.RSSPeakMiB = rss.done()
	if err := stop(); err != nil {
		return v, fmt.Errorf("bench: usual goka: %w", err)
	}
	if n := outOfOrder.Load(); n > 0 {
		return v, fmt.Errorf("bench: usual goka: %d devices saw readings out of event-time order", n)
	}
	say("usual goka: %d readings in %.1fs: %.0f readings/s; checking the sink topic", n, v.Seconds, v.PerSecond)
	// goka is at-least-once (and sarama's default producer retries without
	// idempotence): a window may be published more than once. A consumer
	// keeps one per key; a second one with other totals is a mismatch.
	var dec jsonCodec[closedWindow]
	seen := map[string][2]int64{}
	err = e.consumeAll(ctx, func(r *kgo.Record) error {
		x, err := dec.Decode(r.Value)
		if err != nil {
			return fmt.Errorf("bench: usual goka: %s: %w", sink, err)
		}
		cw := x.(*closedWindow)
		if prev, ok := seen[string(r.Key)]; ok {
			v.Duplicates++
			if prev != [2]int64{cw.Entries, cw.Exits} {
				return fmt.Errorf("bench: usual goka: window %s published with totals %v and %v", r.Key, prev, [2]int64{cw.Entries, cw.Exits})
			}
			return nil
		}
		seen[string(r.Key)] = [2]int64{cw.Entries, cw.Exits}
		// Its key is the input's, the reading key: digest by device, as
		// the limit and ours do.
		dev := cw.Device
		if _, d, ok := schemas.SplitReadingKey(dev); ok {
			dev = d
		}
		v.Devices.Add(dev, cw.Start, cw.Entries, cw.Exits, 0)
		return nil
	}, sink)
	v.Redelivered = redelivered.Load()
	if v.Duplicates > 0 || v.Redelivered > 0 {
		say("usual goka: %d readings redelivered after a rebalance (skipped by offset); %d windows published more than once (at-least-once; counted once)", v.Redelivered, v.Duplicates)
	}
	return v, err
}

// gokaDiscard drops goka's log lines.
type gokaDiscard struct{}

func (gokaDiscard) Print(...any)          {}
func (gokaDiscard) Println(...any)        {}
func (gokaDiscard) Printf(string, ...any) {}
