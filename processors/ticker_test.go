package processors

import (
	"context"
	"log/slog"
	"net"
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
	caught, lagging, known := tk.lag(context.Background())
	for p, ok := range caught {
		if ok {
			t.Errorf("partition %d is caught up although its offsets are unknown", p)
		}
	}
	if known || len(lagging) > 0 {
		t.Errorf("lag known %v (lagging %v) although no broker answers", known, lagging)
	}
}
