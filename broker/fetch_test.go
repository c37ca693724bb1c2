package broker_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestFetchReturnsEveryBatchOnce covers the fetch path of the patched
// kfake (third_party/kfake/PATCHES.md, patch 2: a fetch picks its batches,
// then reads them into one buffer, a run of adjacent batches with one
// read). Many small batches over several segments, on disk (one pread per
// run) and in memory (a seek and a read), are read back by consumers whose
// fetches stop at every kind of limit: the request's bytes, the
// partition's bytes, and none. Each must see every record once, in order.
func TestFetchReturnsEveryBatchOnce(t *testing.T) {
	for _, where := range []string{"disk", "memory"} {
		t.Run(where, func(t *testing.T) {
			dir := ""
			if where == "disk" {
				dir = t.TempDir()
			}
			b := testenv.StartBroker(t, broker.Config{DataDir: dir})
			seg := "4096" // a few dozen batches per segment
			testenv.CreateTopic(t, b.Addr(), "t", 2, map[string]*string{"segment.bytes": &seg})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.ProducerBatchCompression(kgo.NoCompression()))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			const batches, perBatch = 200, 7
			for i := range batches {
				var recs []*kgo.Record
				for j := range perBatch {
					n := i*perBatch + j
					recs = append(recs, &kgo.Record{Topic: "t", Partition: int32(i % 2), Key: []byte(strconv.Itoa(n)),
						Value: fmt.Appendf(nil, "value %d %0*d", n, n%50, 0)})
				}
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
			for _, lim := range []struct {
				name         string
				max, partMax int32
			}{
				{name: "request bytes", max: 700, partMax: 1 << 20},
				{name: "partition bytes", max: 1 << 20, partMax: 900},
				{name: "no limit", max: 50 << 20, partMax: 50 << 20},
			} {
				t.Run(lim.name, func(t *testing.T) {
					c, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("t"),
						kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(lim.max), kgo.FetchMaxPartitionBytes(lim.partMax))
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					next := map[int32]int{0: 0, 1: perBatch} // partition -> next n expected
					fetches, got := 0, 0
					for got < batches*perBatch {
						fs := c.PollFetches(ctx)
						if ctx.Err() != nil {
							t.Fatalf("%d of %d records", got, batches*perBatch)
						}
						if err := fs.Err(); err != nil {
							t.Fatal(err)
						}
						fetches++
						fs.EachRecord(func(r *kgo.Record) {
							n := next[r.Partition]
							want := fmt.Sprintf("value %d %0*d", n, n%50, 0)
							if string(r.Key) != strconv.Itoa(n) || string(r.Value) != want {
								t.Fatalf("partition %d offset %d: key %s value %q, want key %d value %q", r.Partition, r.Offset, r.Key, r.Value, n, want)
							}
							got++
							if n%perBatch == perBatch-1 {
								n += perBatch // the other partition's batch comes next
							}
							next[r.Partition] = n + 1
						})
					}
					t.Logf("%d records in %d polls", got, fetches)
				})
			}
		})
	}
}
