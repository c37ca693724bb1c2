package systest

import (
	"context"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
	"github.com/turnstile-streams/turnstile/wire"
)

// TestStationStateBounded: the state a station window needs (its devices'
// readings and the revisions its devices recorded for it) is pruned with
// each device's value once the partition's watermark passes END + grace +
// retention, so a running stream's table holds about a retention of
// station windows (plus what arrives between two watermark marks),
// however long the stream runs, and the published results stay exact.
func TestStationStateBounded(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cfg := s.config(t)
	cfg.Retention = 30 * time.Minute
	topics := processors.DefaultTopics()
	// One input partition, produced in event-time order: the partitions
	// see no reading older than their watermark, so none is too late for
	// the short retention and the reference is all of them.
	testenv.CreateTopic(t, s.brokers[0], topics.Input, 1, nil)
	runMember(t, ctx, cancel, cfg, nil)

	inCodec := inputCodec(t, s)
	// 12 devices, a reading every ~4 minutes for ~8 hours of event time,
	// in event-time order, produced an hour of event time at a time: each
	// hour waits until the watermark has closed the previous one, as in a
	// stream that runs for hours (produced at once, the whole backlog
	// would be applied before the first mark).
	readings := synthetic(4, 12, 120)
	base := time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	chunk := time.Hour
	for from := 0; from < len(readings); {
		ts, _ := readings[from].ParseEventTime()
		end := base.Add(ts.Sub(base).Truncate(chunk) + chunk)
		to := from
		for to < len(readings) {
			if t2, _ := readings[to].ParseEventTime(); !t2.Before(end) {
				break
			}
			to++
		}
		s.produce(t, ctx, topics.Input, inCodec, readings[from:to], nil)
		closedBy := end.Add(-20 * time.Minute)
		waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
			for _, w := range m {
				if !w.Start.Before(closedBy) {
					return ""
				}
			}
			return "waiting for the windows of " + closedBy.Format(time.TimeOnly)
		})
		from = to
	}

	want := checkSinks(t, ctx, s, reference.FromSchemas(readings))
	stationWindows := len(reference.StationsOf(want, reference.FromSchemas(readings)))

	// The newest reading bounds the watermark; every station window still
	// held must end within grace + retention + one chunk (+ a window of
	// slack) of it.
	var newest time.Time
	for _, r := range readings {
		if ts, err := r.ParseEventTime(); err == nil && ts.After(newest) {
			newest = ts
		}
	}
	horizon := newest.Add(-cfg.Retention - cfg.Window /* grace = window */ - chunk - 2*cfg.Window)
	windows, _ := processors.Config{}.Topology().Stage(processors.StageWindows)
	held, oldest := stationState(t, ctx, s, windows.Table)
	t.Logf("%d station windows published; the table holds %d (oldest starts %s); newest reading %s",
		stationWindows, held, oldest.Format(time.TimeOnly), newest.Format(time.TimeOnly))
	if oldest.Before(horizon) {
		t.Fatalf("station state not bounded: the oldest station window held starts %s, before %s (retention %s and a chunk behind the newest reading)",
			oldest, horizon, cfg.Retention)
	}
	if held >= stationWindows/2 {
		t.Errorf("the table holds %d of %d station windows", held, stationWindows)
	}
}

// stationState reads the windowed stage's changelog to its end and
// reports the station windows its devices' latest values still hold (a
// retained reading in the window, or a recorded station revision) and the
// oldest one's start.
func stationState(t *testing.T, ctx context.Context, s *stack, topic string) (held int, oldest time.Time) {
	t.Helper()
	n := endOffset(t, ctx, s, topic)
	last := map[string][]byte{}
	for _, r := range testenv.ReadN(t, ctx, s.brokers, topic, int(n), 0) {
		if _, _, ok := schemas.SplitReadingKey(string(r.Key)); ok {
			last[string(r.Key)] = r.Value
		}
	}
	type window struct {
		station string
		start   int64
	}
	seen := map[window]bool{}
	for k, v := range last {
		if v == nil {
			continue
		}
		d, err := wire.DecodeDevice(v)
		if err != nil {
			t.Fatalf("table key %q: %v", k, err)
		}
		st := schemas.RouteKey(k)
		for _, r := range d.StationEmitted {
			seen[window{st, r.Start}] = true
		}
		for _, r := range d.Readings[min(1, len(d.Readings)):] { // the first may be the base reading
			seen[window{st, r.T - r.T%(5*60_000)}] = true
		}
	}
	for w := range seen {
		if start := time.UnixMilli(w.start).UTC(); oldest.IsZero() || start.Before(oldest) {
			oldest = start
		}
	}
	return len(seen), oldest
}
