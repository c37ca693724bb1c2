package processors

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestSuperviseRestartsAFailingStage: a stage that fails is restarted
// (after a backoff), each failure logged with its cause, until it runs;
// supervise returns once its context ends.
func TestSuperviseRestartsAFailingStage(t *testing.T) {
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		supervise(ctx, log, "windows", func(ctx context.Context) error {
			if calls.Add(1) <= 2 {
				return errors.New("broker gone")
			}
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs of the stage after 20 s, want 3 (two failures restarted)", calls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "stage stopped; restarting"); n != 2 {
		t.Fatalf("%d restarts logged, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "cause=\"broker gone\"") {
		t.Fatalf("the cause is not logged:\n%s", logs.String())
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("supervise did not return after its context ended")
	}
	if calls.Load() != 3 {
		t.Fatalf("%d runs, want 3: a stage that ran until its context ended is not restarted", calls.Load())
	}
}
