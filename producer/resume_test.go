package producer_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestResume: a synthetic stream run again with Resume continues after what
// its topic holds, whatever start it would have taken: its first reading is
// after the newest event time on the topic, and every device continues
// from its last registers (never below them), so a restarted demo is not
// behind its own stored state and no counter jumps back.
func TestResume(t *testing.T) {
	e := newEnv(t)
	topic := "resumed"
	testenv.CreateTopic(t, e.broker, topic, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := producer.Config{Topic: topic, RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)},
		Progress: producer.ProgressOff, Speed: -1,
		Synthetic: producer.SyntheticConfig{Start: start, Interval: time.Minute, MaxBooths: 20, Duration: 3 * time.Hour}}
	first, err := producer.Run(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{
		Config: codecs.Config{RegistryURL: e.registry, Subject: schemas.Subject(topic)}, MaxFuture: -1})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]schemas.Reading{}
	for _, r := range readAll(t, ctx, e.broker, topic, first.Sent, codec) {
		last[r.DeviceKey()] = r
	}

	// Run again from the same start, as a restarted demo would: resumed.
	again := base
	again.Resume, again.Synthetic.Duration = true, time.Hour
	second, err := producer.Run(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if !second.ResumedAfter.Equal(first.LastEvent) || second.ResumedDevices != len(last) {
		t.Fatalf("resumed after %v with %d devices; the topic's newest is %v with %d devices", second.ResumedAfter, second.ResumedDevices, first.LastEvent, len(last))
	}
	if !second.FirstEvent.After(first.LastEvent) {
		t.Fatalf("resumed stream starts at %v, not after the topic's newest %v", second.FirstEvent, first.LastEvent)
	}
	all := readAll(t, ctx, e.broker, topic, first.Sent+second.Sent, codec)
	seen := map[string]bool{}
	grew := 0
	for _, r := range all {
		k := r.DeviceKey()
		if seen[k] || !r.EventTime.After(first.LastEvent) {
			continue
		}
		seen[k] = true
		prev := last[k]
		if r.Entries < prev.Entries || r.Exits < prev.Exits {
			t.Errorf("%s: registers went back from %d/%d to %d/%d", k, prev.Entries, prev.Exits, r.Entries, r.Exits)
		}
		if r.Entries > prev.Entries {
			grew++
		}
	}
	if len(seen) != len(last) || grew == 0 {
		t.Errorf("%d of %d devices continued, %d grew", len(seen), len(last), grew)
	}
}

// TestSyntheticNotAhead: a synthetic stream faster than real time never
// sends a reading before the wall clock reaches its event time: once it
// has caught up with the present it continues in real time.
func TestSyntheticNotAhead(t *testing.T) {
	e := newEnv(t)
	testenv.CreateTopic(t, e.broker, "not-ahead", 1, nil)
	now := start.Add(time.Hour) // an hour into the stream
	clock := &fakeClock{now: now}
	sum, err := producer.Run(context.Background(), producer.Config{
		Topic: "not-ahead", RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)}, Progress: producer.ProgressOff,
		Speed: 3600, Clock: clock,
		Synthetic: producer.SyntheticConfig{Start: start, Duration: 3 * time.Hour, Interval: 10 * time.Minute, MaxBooths: 2, DevicesPerBooth: 1}})
	if err != nil {
		t.Fatal(err)
	}
	// The first hour goes out at 3600x (a second); the rest at the pace of
	// the clock: the last reading, 2h50m after the start, waits until then.
	if want := sum.LastEvent.Sub(now); clock.slept < want || clock.slept > want+time.Minute {
		t.Fatalf("slept %v (fake) for a last reading %v after the clock started", clock.slept, want)
	}
}

func readAll(t *testing.T, ctx context.Context, broker, topic string, n int64, codec *codecs.ReadingCodec) []schemas.Reading {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []schemas.Reading
	for int64(len(out)) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d", len(out), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			rd, err := codec.DecodeReading(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, rd)
		})
	}
	// In event-time order per device is what matters: the producer sends
	// in event-time order, and each device's records are in one partition.
	return out
}
