package processors

import (
	"context"
	"log/slog"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The lag rules themselves (no commit, a commit below the log start,
// unknown offsets) are tested in internal/grouplag, their one place.

// TestCaughtUpOnUnknownOffsets: when the offsets cannot be listed (here no
// broker answers), no partition is caught up, so none can be marked idle,
// and the lag is unknown, so no watermark.Gate opens on it.
func TestCaughtUpOnUnknownOffsets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tk := &ticker{cl: cl, adm: kadm.NewClient(cl), lagGroup: "g", lagTopic: "in", interval: 300 * time.Millisecond, log: slog.New(slog.DiscardHandler)}
	caught, lagging, ends, known := tk.lag(context.Background())
	for p, ok := range caught {
		if ok {
			t.Errorf("partition %d is caught up although its offsets are unknown", p)
		}
	}
	if known || len(lagging) > 0 || len(ends) > 0 {
		t.Errorf("lag known %v (lagging %v, ends %v) although no broker answers", known, lagging, ends)
	}
}

// TestQuietNeverOverstates: a partition's quiet runs from the end of the
// listing that first returned its current end offset to the start of the
// current one, so it never claims more silence than there was; an end
// that moved, or could not be listed, starts over.
func TestQuietNeverOverstates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const took = 10 * time.Millisecond // each listing's duration
	tk := &ticker{}
	for _, step := range []struct {
		wall time.Duration
		ends map[int32]int64
		want map[int32]time.Duration
	}{
		{0, map[int32]int64{0: 5, 1: 7}, map[int32]time.Duration{}}, // first sighting: unknown
		{time.Second, map[int32]int64{0: 5, 1: 8}, map[int32]time.Duration{0: time.Second - took}},
		{2 * time.Second, map[int32]int64{0: 5}, map[int32]time.Duration{0: 2*time.Second - took}}, // 1 unlisted
		{3 * time.Second, map[int32]int64{0: 5, 1: 8}, map[int32]time.Duration{0: 3*time.Second - took}},
		{4 * time.Second, map[int32]int64{0: 6, 1: 8}, map[int32]time.Duration{1: time.Second - took}},
	} {
		got := tk.quiet(at(step.wall), at(step.wall+took), step.ends)
		if !reflect.DeepEqual(got, step.want) {
			t.Errorf("at %v with ends %v: quiet %v, want %v", step.wall, step.ends, got, step.want)
		}
	}
}
