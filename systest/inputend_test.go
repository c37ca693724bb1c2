package systest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// TestDeclaredEndClosesAtOnce: with an idle timeout of five minutes, input
// whose end its producer declared (the offsets after its records,
// committed to schemas.InputEndGroup, as turnstile produce does) has its
// last windows closed as soon as the member has read it, well inside the
// test's one minute; without the declaration they would wait the five.
// Declared after the member read the input, the next tick finds each
// partition at its end; declared before, each partition goes idle as it
// takes its last record. Either way the partitions nudge themselves
// (turnstile_nudges_total) to close the last windows without waiting for
// the next tick.
func TestDeclaredEndClosesAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name          string
		declareBefore bool
	}{{"declared after reading", false}, {"declared before reading", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cfg := s.config(t)
			cfg.IdleTimeout = 5 * time.Minute
			reg := prometheus.NewRegistry()
			metrics, err := processors.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.declareBefore {
				full := cfg
				full.Defaults()
				if _, _, err := processors.EnsureTopics(ctx, kadm.NewClient(s.client), full.TopicSpecs(), 1); err != nil {
					t.Fatal(err)
				}
			} else {
				runMember(t, ctx, cancel, cfg, metrics)
			}
			topics := processors.DefaultTopics()
			readings := synthetic(2, 12, 30)
			s.produce(t, ctx, topics.Input, inputCodec(t, s), readings, nil)
			declareEnd(t, ctx, s, topics.Input)
			began := time.Now()
			if tc.declareBefore {
				runMember(t, ctx, cancel, cfg, metrics)
			}
			checkSinks(t, ctx, s, reference.FromSchemas(readings))
			t.Logf("every window closed %v after the end was declared (idle timeout %v)", time.Since(began).Round(time.Millisecond), cfg.IdleTimeout)
			if n := metricValue(t, reg, "turnstile_nudges_total"); n == 0 {
				t.Error("no partition nudged itself to close its last windows")
			}
		})
	}
}

// declareEnd commits topic's end offsets to schemas.InputEndGroup, as
// turnstile produce does once its records are delivered.
func declareEnd(t *testing.T, ctx context.Context, s *stack, topic string) {
	t.Helper()
	adm := kadm.NewClient(s.client)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	ends.Each(func(o kadm.ListedOffset) {
		offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
	})
	if resp, err := adm.CommitOffsets(ctx, schemas.InputEndGroup, offs); err != nil || resp.Error() != nil {
		t.Fatal(err, resp.Error())
	}
}
