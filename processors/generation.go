package processors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Generation is one pass of the graph over its input. turnstile replay
// starts a new one: every window published from then on carries its
// number, and downstream "highest generation, then highest revision"
// wins, so a replay's results supersede the earlier ones. A generation may
// carry its own retention and grace: replayed input arrives in the order
// it did before, so readings that were too late live are only accepted
// by a replay whose retention covers them.
//
// The latest generation is the last record of the generations topic
// (compacted, one partition, key GenerationKey). Members read it when they
// start; a running member does not see a new one (replay refuses to run
// while members are active).
type Generation struct {
	Number int32 `json:"generation"`
	// From is where the replay restarted the input: "earliest" or an
	// RFC 3339 time.
	From string `json:"from"`
	// Groups the replay reset.
	Groups []string `json:"groups"`
	// Retention and Grace, when positive, override the members' flags
	// for this generation.
	RetentionMs int64     `json:"retention_ms,omitempty"`
	GraceMs     int64     `json:"grace_ms,omitempty"`
	StartedAt   time.Time `json:"started_at"`
}

// GenerationKey is the key of generation records.
const GenerationKey = "generation"

// Retention is the generation's retention (0: the members' flag).
func (g Generation) Retention() time.Duration { return time.Duration(g.RetentionMs) * time.Millisecond }

// Grace is the generation's grace (0: the members' flag).
func (g Generation) Grace() time.Duration { return time.Duration(g.GraceMs) * time.Millisecond }

// EncodeGeneration is the record value of g.
func EncodeGeneration(g Generation) ([]byte, error) {
	b, err := json.Marshal(g)
	if err != nil {
		return nil, fmt.Errorf("processors: generation: %w", err)
	}
	return b, nil
}

// ReadGeneration returns the latest generation recorded on topic; ok is
// false when none was (generation 0, the first pass). cl must not be
// consuming.
func ReadGeneration(ctx context.Context, cl *kgo.Client, topic string) (g Generation, ok bool, err error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return g, false, fmt.Errorf("processors: generations topic %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return g, false, nil
	}
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	for p := range want {
		offsets[topic][p] = kgo.NewOffset().AtStart()
	}
	cl.AddConsumePartitions(offsets)
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: keys(want)})
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return g, false, fmt.Errorf("processors: generations topic %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return g, false, fmt.Errorf("processors: generations topic %s: %w", topic, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if string(r.Key) != GenerationKey || r.Value == nil {
				return
			}
			var rec Generation
			if jerr := json.Unmarshal(r.Value, &rec); jerr != nil {
				err = fmt.Errorf("processors: generations topic %s offset %d: %w", topic, r.Offset, jerr)
				return
			}
			if rec.Number >= g.Number {
				g, ok = rec, true
			}
		})
		if err != nil {
			return Generation{}, false, err
		}
	}
	return g, ok, nil
}

func keys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// applyGeneration makes the recorded generation this member's: its number
// unless the configured one is higher, its retention and grace when set.
func (c *Config) applyGeneration(g Generation) {
	if g.Number > c.Generation {
		c.Generation = g.Number
	}
	if g.Number == c.Generation {
		if g.RetentionMs > 0 {
			c.Retention = g.Retention()
		}
		if g.GraceMs > 0 {
			c.Grace = g.Grace()
		}
	}
}

// loadGeneration reads the recorded generation and makes it this member's
// (see Config.applyGeneration).
func (p *Pipeline) loadGeneration(ctx context.Context, cl *kgo.Client) error {
	var g Generation
	var ok bool
	err := retryUnknownTopic(ctx, func() (err error) {
		g, ok, err = ReadGeneration(ctx, cl, p.cfg.Topics.Generations)
		return err
	})
	if err != nil || !ok {
		return err
	}
	cfg := p.cfg
	cfg.applyGeneration(g)
	sem, err := cfg.rules()
	if err != nil {
		return fmt.Errorf("processors: generation %d: %w", g.Number, err)
	}
	p.cfg, p.sem = cfg, sem
	p.cfg.Logger.Info("generation", "generation", cfg.Generation, "recorded", g.Number, "from", g.From,
		"started_at", g.StartedAt, "retention", cfg.Retention, "grace", cfg.Grace)
	return nil
}

// retryUnknownTopic runs fn again while it fails because a topic is
// unknown, for about ten seconds: a topic EnsureTopics just created may be
// unknown to the client's cached metadata for a few seconds.
func retryUnknownTopic(ctx context.Context, fn func() error) error {
	for wait := 100 * time.Millisecond; ; wait *= 2 {
		err := fn()
		if !errors.Is(err, kerr.UnknownTopicOrPartition) || wait > 10*time.Second {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
