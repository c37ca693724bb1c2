package systest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/internal/reference"
	"github.com/turnstile-streams/turnstile/internal/testenv"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// TestStationStateBounded: station windows are deleted from the station
// table once the station partitions' watermark (the least data time of the
// device partitions) passes END + grace + retention, so the table holds
// about a retention of windows however long the stream runs, and the
// published results stay exact.
func TestStationStateBounded(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfg := s.config(t)
	cfg.Retention = 30 * time.Minute
	topics := processors.DefaultTopics()
	// One input partition, produced in event-time order: the device
	// partitions see no reading older than their stream time, so none is
	// too late for the short retention and the reference is all of them.
	testenv.CreateTopic(t, s.brokers[0], topics.Input, 1, nil)
	runMember(t, ctx, cancel, cfg, nil)

	inCodec := inputCodec(t, s)
	// 12 devices (every device partition gets some: the watermark needs
	// all of them), a reading every ~4 minutes for ~8 hours of event time,
	// in event-time order.
	readings := synthetic(4, 12, 120)
	s.produce(t, ctx, topics.Input, inCodec, readings, nil)

	want := checkSinks(t, ctx, s, reference.FromSchemas(readings))
	stationWindows := len(reference.StationsOf(want, reference.FromSchemas(readings)))

	// The newest reading bounds the watermark; every live station window
	// must end within grace + retention (+ one window of slack) of it.
	var newest time.Time
	for _, r := range readings {
		if ts, err := r.ParseEventTime(); err == nil && ts.After(newest) {
			newest = ts
		}
	}
	horizon := newest.Add(-cfg.Retention - cfg.Window /* grace = window */ - 2*cfg.Window)
	table := processors.DefaultGroups().Stations + "-table"
	var live, deleted int
	var oldest time.Time
	deadline := time.Now().Add(45 * time.Second)
	for {
		live, deleted, oldest = stationTable(t, ctx, s, table)
		if !oldest.IsZero() && !oldest.Before(horizon) && deleted > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	t.Logf("%d station windows published; the table holds %d (oldest starts %s), %d deleted; newest reading %s",
		stationWindows, live, oldest.Format(time.TimeOnly), deleted, newest.Format(time.TimeOnly))
	if deleted == 0 || oldest.Before(horizon) {
		t.Fatalf("station table not bounded: oldest live window starts %s, before %s (retention %s behind the newest reading); %d deleted",
			oldest, horizon, cfg.Retention, deleted)
	}
	if live >= stationWindows/2 {
		t.Errorf("the station table holds %d of %d windows", live, stationWindows)
	}
}

// stationTable reads a station table's changelog to its end and reports
// the station window keys with a value (live), those whose last record is
// a tombstone (deleted), and the oldest live window's start.
func stationTable(t *testing.T, ctx context.Context, s *stack, topic string) (live, deleted int, oldest time.Time) {
	t.Helper()
	n := endOffset(t, ctx, s, topic)
	last := map[string]bool{}
	for _, r := range testenv.ReadN(t, ctx, s.brokers, topic, int(n), 0) {
		if strings.HasPrefix(string(r.Key), "~") { // partition control keys
			continue
		}
		last[string(r.Key)] = r.Value != nil
	}
	for k, ok := range last {
		if !ok {
			deleted++
			continue
		}
		live++
		start, err := time.Parse(processors.WindowKeyTime, k[strings.LastIndex(k, schemas.KeySeparator)+1:])
		if err != nil {
			t.Fatalf("station table key %q: %v", k, err)
		}
		if oldest.IsZero() || start.Before(oldest) {
			oldest = start
		}
	}
	return live, deleted, oldest
}
