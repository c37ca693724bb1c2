package systest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
)

// TestCatchingUp: a member says it is catching up while it takes input
// records appended over a quarter second before it (their Kafka
// timestamp), and stops saying so once it takes none, nor while it takes
// records whose timestamp is not in the past (Pipeline.CatchingUp, which
// holds turnstile dev's lake-writer back).
func TestCatchingUp(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	metrics, err := processors.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m := runMember(t, ctx, cancel, s.config(t), metrics)
	codec := inputCodec(t, s)
	readings := synthetic(7, 6, 60)
	next := 0
	produce := func(n int, appended time.Time) {
		t.Helper()
		for range n {
			if next == len(readings) {
				t.Fatalf("all %d readings produced", len(readings))
			}
			r := readings[next]
			next++
			b, err := codec.EncodeReading(&r)
			if err != nil {
				t.Fatal(err)
			}
			s.client.Produce(ctx, &kgo.Record{Topic: processors.DefaultTopics().Input, Key: []byte(r.ID), Value: b, Timestamp: appended}, nil)
		}
		if err := s.client.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	applied := func() float64 { return metricValue(t, reg, "turnstile_reading_outcomes_total") }

	// A backlog: readings appended an hour ago, one more at every look,
	// so that one was taken within the last quarter second.
	waitFor(t, ctx, "the member catching up on a backlog", func() bool {
		produce(1, time.Now().Add(-time.Hour))
		return m.p.CatchingUp()
	})
	waitFor(t, ctx, "the member no longer catching up once the backlog is read", func() bool { return !m.p.CatchingUp() })

	// A live stream: stamped ahead of the wall clock, so however late the
	// member takes them they are not a backlog.
	before := applied()
	produce(40, time.Now().Add(time.Hour))
	waitFor(t, ctx, "the live readings applied", func() bool { return applied() >= before+40 })
	if m.p.CatchingUp() {
		t.Error("catching up on records appended just now")
	}
}
