package processors

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestLagOf(t *testing.T) {
	const topic = "in"
	listed := func(offs map[int32]int64) kadm.ListedOffsets {
		out := kadm.ListedOffsets{topic: {}}
		for p, o := range offs {
			out[topic][p] = kadm.ListedOffset{Topic: topic, Partition: p, Offset: o}
		}
		return out
	}
	commits := func(offs map[int32]int64) kadm.OffsetResponses {
		out := kadm.OffsetResponses{topic: {}}
		for p, o := range offs {
			out[topic][p] = kadm.OffsetResponse{Offset: kadm.Offset{Topic: topic, Partition: p, At: o}}
		}
		return out
	}
	for _, tc := range []struct {
		name             string
		starts, ends, cm map[int32]int64
		want             map[int32]int64
	}{
		{"caught up and behind", map[int32]int64{0: 0, 1: 0}, map[int32]int64{0: 10, 1: 10}, map[int32]int64{0: 10, 1: 4},
			map[int32]int64{0: 0, 1: 6}},
		{"no commit: every record it holds", map[int32]int64{0: 30}, map[int32]int64{0: 50}, nil, map[int32]int64{0: 20}},
		{"an empty partition with no commit is caught up", map[int32]int64{0: 0}, map[int32]int64{0: 0}, nil, map[int32]int64{0: 0}},
		{"a commit below the log start counts from the start", map[int32]int64{0: 40}, map[int32]int64{0: 50}, map[int32]int64{0: 5},
			map[int32]int64{0: 10}},
		{"a commit of -1 is none", map[int32]int64{0: 0}, map[int32]int64{0: 3}, map[int32]int64{0: -1}, map[int32]int64{0: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lagOf(topic, listed(tc.starts), listed(tc.ends), commits(tc.cm)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("lag %v, want %v", got, tc.want)
			}
		})
	}
}

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
