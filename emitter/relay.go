package emitter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
)

// Translate turns one changelog record into the records to publish. It
// returns nil for records with nothing to publish. An error wrapping
// ErrRetry is retried with backoff (e.g. the schema registry is down);
// any other error means the record can never be published: it is logged,
// counted and skipped. The relay produces the returned records before it
// calls Translate again, so the slice itself may be reused by the next
// call; the records must stay as they are until Config.Recycle.
type Translate func(rec *kgo.Record) ([]*kgo.Record, error)

// ErrRetry marks a Translate error as transient.
var ErrRetry = errors.New("emitter: retry")

// Config configures a Relay.
type Config struct {
	// KafkaOpts reach the cluster (seed brokers, TLS, SASL).
	KafkaOpts []kgo.Opt
	// Group is the relay's consumer group, e.g. "turnstile-windows-relay".
	Group string
	// Changelog is the table topic to relay, e.g. "turnstile-windows-table".
	Changelog string
	// Translate maps changelog records to output records.
	Translate Translate
	// MaxPoll bounds the records handled per round (default 5000).
	MaxPoll int
	// OnPublished, if set, is called for every output record the broker
	// acknowledged (from the producer's goroutine).
	OnPublished func(*kgo.Record)
	// Recycle, if set, is called once the relay's flush has had every
	// record Translate returned since the last call acknowledged (in
	// Run's goroutine, as Translate is): Translate may then reuse what
	// those records refer to. A flush that fails does not call it.
	Recycle func()
	Logger  *slog.Logger
}

// Defaults fills zero fields (MaxPoll also when negative).
func (c *Config) Defaults() {
	if c.MaxPoll <= 0 {
		c.MaxPoll = 5000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats are a relay's running counters.
type Stats struct {
	Read, Published, Skipped int64
}

// Relay is one member of a relay consumer group.
type Relay struct {
	cfg                      Config
	read, published, skipped atomic.Int64
}

// New validates cfg.
func New(cfg Config) (*Relay, error) {
	switch {
	case cfg.Group == "" || cfg.Changelog == "":
		return nil, errors.New("emitter: Group and Changelog are required")
	case cfg.Translate == nil:
		return nil, errors.New("emitter: Translate is required")
	}
	cfg.Defaults()
	return &Relay{cfg: cfg}, nil
}

// Stats returns the counters so far.
func (r *Relay) Stats() Stats {
	return Stats{Read: r.read.Load(), Published: r.published.Load(), Skipped: r.skipped.Load()}
}

// Run relays until ctx ends. It returns nil on cancellation and an error if
// the client fails for good; the caller's supervisor restarts it, and
// nothing uncommitted is lost.
func (r *Relay) Run(ctx context.Context) error {
	opts := append([]kgo.Opt{
		kgo.ConsumerGroup(r.cfg.Group),
		kgo.ConsumeTopics(r.cfg.Changelog),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.RecordPartitioner(schemas.Partitioner()), // keys land where goka looks for them
		kgo.ProducerLinger(2 * time.Millisecond),
	}, r.cfg.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("emitter: %s: %w", r.cfg.Group, err)
	}
	defer cl.Close()
	log := r.cfg.Logger.With("relay", r.cfg.Group)
	for {
		fetches := cl.PollRecords(ctx, r.cfg.MaxPoll)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			log.Warn("fetch error", "topic", t, "partition", p, "err", err)
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			cl.AllowRebalance()
			continue
		}
		if err := r.publish(ctx, cl, recs, log); err != nil {
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := cl.CommitRecords(ctx, recs...); err != nil && ctx.Err() == nil {
			// Not fatal: the records are republished after a restart.
			log.Warn("commit failed; records will be republished", "err", err)
		}
		cl.AllowRebalance()
	}
}

// publish produces the outputs of recs and waits for every acknowledgement.
func (r *Relay) publish(ctx context.Context, cl *kgo.Client, recs []*kgo.Record, log *slog.Logger) error {
	var (
		mu       sync.Mutex
		firstErr error
		n        int64
	)
	done := func(rec *kgo.Record, err error) { // one for every record, not one each
		if err == nil && r.cfg.OnPublished != nil {
			r.cfg.OnPublished(rec)
		}
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	for _, rec := range recs {
		r.read.Add(1)
		outs, err := r.translate(ctx, rec, log)
		if err != nil {
			return err
		}
		for _, out := range outs {
			n++
			cl.Produce(ctx, out, done)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("emitter: %s: flush: %w", r.cfg.Group, err)
	}
	if r.cfg.Recycle != nil {
		r.cfg.Recycle() // every promise has been called: the producer keeps no record
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return fmt.Errorf("emitter: %s: produce: %w", r.cfg.Group, firstErr)
	}
	r.published.Add(n)
	return nil
}

func (r *Relay) translate(ctx context.Context, rec *kgo.Record, log *slog.Logger) ([]*kgo.Record, error) {
	backoff := 100 * time.Millisecond
	for {
		outs, err := r.cfg.Translate(rec)
		switch {
		case err == nil:
			return outs, nil
		case errors.Is(err, ErrRetry):
			log.Warn("cannot publish yet; retrying", "partition", rec.Partition, "offset", rec.Offset, "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		default:
			r.skipped.Add(1)
			log.Error("skipping a changelog record that cannot be published", "partition", rec.Partition, "offset", rec.Offset, "key", string(rec.Key), "err", err)
			return nil, nil
		}
	}
}
