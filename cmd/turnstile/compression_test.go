package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestCompressionFlag, end to end: --compression reaches every producer of a
// command. produce writes the input in its codec; a process member writes, in
// its own, the sink topics (the relays), the dead letters and the internal
// topics (goka's producer, franz-go too).
func TestCompressionFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline member")
	}
	b := testenv.Broker(t, "")
	r := testenv.Registry(t, b.Addr())
	env := map[string]string{"TURNSTILE_BROKERS": b.Addr(), "TURNSTILE_REGISTRY_URL": r.URL()}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if out, _, err := runCLI(t, ctx, env, "schemas", "register"); err != nil {
		t.Fatalf("schemas register: %v\n%s", err, out)
	}
	member := startCLI(t, env, "process", "--compression", "lz4", "--data-dir", filepath.Join(t.TempDir(), "m"), "--http-addr", "",
		"--partitions", "2", "--idle-timeout", "1s", "--max-future=-1s", "--quiet")
	member.waitLog(t, ctx, "processors running")
	out, errOut, err := runCLI(t, ctx, env, "produce", "--compression", "zstd", "--limit", "300", "--speed=-1",
		"--start", "2024-01-06T00:00:00Z", "--interval", "1m", "--max-booths", "2", "--devices-per-booth", "2",
		"--bad-fraction", "0.1", "--progress", "off")
	if err != nil || !strings.Contains(out, "sent 3") {
		t.Fatalf("produce: %v\n%s\n%s", err, out, errOut)
	}
	topics := processors.DefaultTopics()
	// Every producer is franz-go, which writes a batch uncompressed when
	// the codec would not make it smaller (the readings topic carries only
	// the stage's marks, a few bytes each; the dead letters come a few at
	// a time): no batch may be in another codec, and the topics with
	// bigger batches must show the flag's. That goka's producer takes the
	// codec is TestKgoProducerTakesTheUsersOptions (processors).
	for _, tc := range []struct {
		topic, codec, writer string
		small                bool
	}{
		{topics.Input, "zstd", "turnstile produce", false},
		{topics.DeviceWindows, "lz4", "the relay", false},
		{topics.StationWindows, "lz4", "the relay", false},
		{topics.DeadLetters, "lz4", "the windowed stage (goka's producer)", true},
		{topics.Readings, "lz4", "the windowed stage's marks (goka's producer)", true},
	} {
		got := readCodecs(t, ctx, b.Addr(), tc.topic, 5)
		other := maps.Clone(got)
		delete(other, tc.codec)
		delete(other, "none")
		if len(other) > 0 || !tc.small && !got[tc.codec] {
			t.Errorf("%s, written by %s: batches in %v, want %s (or none where it would not be smaller)", tc.topic, tc.writer, got, tc.codec)
		}
	}
}

// readCodecs reads n records of topic from the start and returns the
// codecs of their batches.
func readCodecs(t *testing.T, ctx context.Context, addr, topic string, n int) map[string]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	names := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	got := map[string]bool{}
	for read := 0; read < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records", topic, read, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			c := r.Attrs.CompressionType()
			if int(c) < len(names) {
				got[names[c]] = true
			} else {
				got[fmt.Sprint(c)] = true
			}
			read++
		})
	}
	return got
}
