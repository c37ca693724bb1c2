package systest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// TestWriteBehind: a burst of readings, many per device, publishes the
// reference either way; held back (the default), the windows table's
// changelog gets a device's value once per flush, so far fewer records
// than readings, where written through it gets one per reading.
func TestWriteBehind(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys int
	}{
		{"held back", 0},
		{"written through", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := s.config(t)
			cfg.WriteBehindKeys = tc.keys
			runMember(t, ctx, cancel, cfg, nil)
			readings := synthetic(4, 12, 60)
			s.produce(t, ctx, processors.DefaultTopics().Input, inputCodec(t, s), readings, nil)
			checkSinks(t, ctx, s, reference.FromSchemas(readings))
			changelog := endOffset(t, ctx, s, processors.DefaultGroups().Windows+"-table")
			t.Logf("%d readings, %d changelog records", len(readings), changelog)
			if tc.keys < 0 && changelog < int64(len(readings)) {
				t.Errorf("written through: %d changelog records for %d readings, want one per reading at least", changelog, len(readings))
			}
			if tc.keys >= 0 && changelog > int64(len(readings))/2 {
				t.Errorf("held back: %d changelog records for %d readings, want under half", changelog, len(readings))
			}
		})
	}
}

// TestWriteBehindStopWritesHeld: a member stopped while its partitions
// hold devices in memory (hour-long tick and mark intervals: nothing else
// writes them) writes them as goka stops each partition, so the stop
// does not sit out goka's 60 s wait for the deferred commits, and the
// group has committed the end of the input once it stopped.
func TestWriteBehindStopWritesHeld(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := s.config(t)
	cfg.TickInterval, cfg.MarkInterval = time.Hour, time.Hour
	reg := prometheus.NewRegistry()
	metrics, err := processors.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m := runMember(t, ctx, cancel, cfg, metrics)
	readings := synthetic(5, 12, 20)
	s.produce(t, ctx, processors.DefaultTopics().Input, inputCodec(t, s), readings, nil)
	waitFor(t, ctx, "every reading applied", func() bool {
		return metricValue(t, reg, "turnstile_reading_outcomes_total") >= float64(len(readings))
	})
	table := processors.DefaultGroups().Windows + "-table"
	held := endOffset(t, ctx, s, table)
	if held >= int64(len(readings))/2 {
		t.Fatalf("%d changelog records for %d readings before the stop: the devices were not held", held, len(readings))
	}
	began := time.Now()
	m.stop()
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("the stop took %v: the held devices were not written as goka stopped the partitions", took)
	}
	if written := endOffset(t, ctx, s, table); written <= held {
		t.Errorf("changelog %d records after the stop, %d before: nothing held was written", written, held)
	}
	waitCommitted(t, ctx, kadm.NewClient(s.client), processors.DefaultGroups().Windows, processors.DefaultTopics().Input)
}
