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
// broker answers), no partition is caught up, so none can be marked idle.
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
	tk := &ticker{cl: cl, adm: kadm.NewClient(cl), group: "g", input: "in", interval: 300 * time.Millisecond, log: slog.New(slog.DiscardHandler)}
	for p, ok := range tk.caughtUp(context.Background()) {
		if ok {
			t.Errorf("partition %d is caught up although its offsets are unknown", p)
		}
	}
}
