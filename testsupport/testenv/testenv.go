package testenv

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
)

// Broker starts an embedded broker persisted under dir ("" = in memory) and
// stops it when the test ends. Restart a persisted broker by calling Close
// and Broker again with the same dir.
func Broker(t testing.TB, dir string) *broker.Broker {
	t.Helper()
	return StartBroker(t, broker.Config{DataDir: dir})
}

// StartBroker starts an embedded broker configured by cfg (its Logger set
// to the test's when nil), closed when the test ends.
func StartBroker(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: start broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// CreateTopic creates a topic with the given partitions (replication 1) and
// optional configs, failing the test on error.
func CreateTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("testenv: create topic %s: %v", topic, err)
	}
}

// Logger logs through the test at warning level, or debug with
// TURNSTILE_TEST_DEBUG=1.
func Logger(t testing.TB) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("TURNSTILE_TEST_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	w := &testWriter{t: t}
	// Background goroutines may log after the test returns, when t.Log
	// panics; from then on their lines go to stderr.
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

type testWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if w.done.Load() {
		return os.Stderr.Write(p)
	}
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
