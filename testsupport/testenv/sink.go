package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadSink reads a sink topic from the start, keeping the highest version
// (the revision, or generation and revision in one number) of every key, until diff of what it holds returns "" (then it returns
// what it holds) or ctx ends (then the test fails with the last diff). It
// fails the test if a (key, version) ever appears with two contents:
// re-emissions must be identical.
func ReadSink[T any](t testing.TB, ctx context.Context, brokers []string, topic string,
	decode func([]byte) (v T, version int64, err error), diff func(map[string]T) string) map[string]T {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	latest, revs, seen, n := map[string]T{}, map[string]int64{}, map[string]string{}, 0
	for d := diff(latest); d != ""; d = diff(latest) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: gave up after %d records, %d keys:\n%s", topic, n, len(latest), d)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			v, rev, err := decode(r.Value)
			if err != nil {
				t.Fatalf("%s: %v", topic, err)
			}
			id := fmt.Sprintf("%s@%d", r.Key, rev)
			if prev, ok := seen[id]; ok && prev != string(r.Value) {
				t.Fatalf("%s: %s published twice with different content", topic, id)
			}
			seen[id] = string(r.Value)
			if rev >= revs[string(r.Key)] {
				revs[string(r.Key)], latest[string(r.Key)] = rev, v
			}
		})
	}
	return latest
}

// ReadN reads the first n records of a topic from the start, failing the
// test if ctx ends first. With settle > 0 it then keeps reading for that
// long and fails if more records arrive: the topic holds exactly n.
func ReadN(t testing.TB, ctx context.Context, brokers []string, topic string, n int, settle time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: %d of %d records", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	if settle > 0 {
		extra, cancel := context.WithTimeout(ctx, settle)
		defer cancel()
		if more := cl.PollFetches(extra).Records(); len(more) > 0 || len(out) > n {
			t.Errorf("%s: %d records, want %d", topic, len(out)+len(more), n)
		}
	}
	return out
}

// ReadAll reads a topic from the start to its end as of the call, calling
// each on every record; it fails the test if ctx ends first.
func ReadAll(t testing.TB, ctx context.Context, brokers []string, topic string, each func(*kgo.Record)) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		t.Fatalf("%s: %v", topic, err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: reading to its end: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			each(r)
		})
	}
}

// Revisions reads a sink topic from the start to its current end and
// counts, per key, the distinct versions published (a republication after
// a crash is byte-identical, so it is one version); a negative version
// skips the record. Call it once the pipeline has converged (after
// ReadSink).
func Revisions(t testing.TB, ctx context.Context, brokers []string, topic string, version func([]byte) (int64, error)) map[string]int {
	t.Helper()
	seen := map[string]map[int64]bool{}
	ReadAll(t, ctx, brokers, topic, func(r *kgo.Record) {
		v, err := version(r.Value)
		if err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		if v < 0 {
			return
		}
		k := string(r.Key)
		if seen[k] == nil {
			seen[k] = map[int64]bool{}
		}
		seen[k][v] = true
	})
	out := make(map[string]int, len(seen))
	for k, vs := range seen {
		out[k] = len(vs)
	}
	return out
}
