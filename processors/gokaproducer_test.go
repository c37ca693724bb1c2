package processors

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// producedAt is where a promise said a record landed.
type producedAt struct {
	partition int32
	offset    int64
	err       error
}

// emitAll emits every key (its value(key), one header h=key) and returns where
// each promise said it landed, after closing the producer.
func emitAll(t *testing.T, p goka.Producer, topic string, keys []string, value func(string) []byte) map[string]producedAt {
	t.Helper()
	var mu sync.Mutex
	got := map[string]producedAt{}
	for _, k := range keys {
		p.EmitWithHeaders(topic, k, value(k), goka.Headers{"h": []byte(k)}).ThenWithMessage(func(msg *sarama.ProducerMessage, err error) {
			mu.Lock()
			defer mu.Unlock()
			at := producedAt{err: err}
			if msg != nil {
				at.partition, at.offset = msg.Partition, msg.Offset
			}
			got[k] = at
		})
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(keys) {
		t.Fatalf("%d of %d promises finished when Close returned", len(got), len(keys))
	}
	return got
}

// TestKgoProducerIsSaramas: goka's producer on franz-go places every key
// where goka's own (sarama's) producer does with the pipeline's hasher,
// finishes every promise by the time Close returns, with the offset the
// record has in the log (goka acknowledges table writes by it), and
// writes keys, values, tombstones and headers as given.
func TestKgoProducerIsSaramas(t *testing.T) {
	if testing.Short() {
		t.Skip("produces to the embedded broker")
	}
	b := testenv.Broker(t, "")
	const parts = 6
	testenv.CreateTopic(t, b.Addr(), "ours", parts, nil)
	testenv.CreateTopic(t, b.Addr(), "goka", parts, nil)
	var keys []string
	for i := range 300 {
		keys = append(keys, schemas.ReadingKey(fmt.Sprintf("STATION %d", i%37), "NQRW", fmt.Sprintf("A%03d", i), "R001", "00-00-00"))
	}
	value := func(k string) []byte {
		if len(k)%5 == 0 {
			return nil // a tombstone
		}
		return []byte("v-" + k)
	}

	ours, err := kgoProducerBuilder([]kgo.Opt{kgo.SeedBrokers(b.Addr())})([]string{b.Addr()}, "test", schemas.Hasher())
	if err != nil {
		t.Fatal(err)
	}
	sc := goka.DefaultConfig()
	sc.Version = sarama.V2_1_0_0
	theirs, err := goka.ProducerBuilderWithConfig(sc)([]string{b.Addr()}, "test", schemas.Hasher())
	if err != nil {
		t.Fatal(err)
	}
	got, want := emitAll(t, ours, "ours", keys, value), emitAll(t, theirs, "goka", keys, value)
	for _, k := range keys {
		if got[k].err != nil || want[k].err != nil {
			t.Fatalf("%s: ours %v, sarama's %v", k, got[k].err, want[k].err)
		}
		if got[k].partition != want[k].partition {
			t.Errorf("%s: partition %d, sarama's producer %d", k, got[k].partition, want[k].partition)
		}
	}

	// What the log holds at each promised offset is what was emitted.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	read := testenv.ReadN(t, ctx, []string{b.Addr()}, "ours", len(keys), 0)
	at := map[producedAt]*kgo.Record{}
	for _, r := range read {
		at[producedAt{partition: r.Partition, offset: r.Offset}] = r
	}
	for _, k := range keys {
		r := at[producedAt{partition: got[k].partition, offset: got[k].offset}]
		switch {
		case r == nil:
			t.Fatalf("%s: nothing at partition %d offset %d", k, got[k].partition, got[k].offset)
		case string(r.Key) != k:
			t.Fatalf("%s: key %q at its offset", k, r.Key)
		case (value(k) == nil) != (r.Value == nil) || string(r.Value) != string(value(k)):
			t.Fatalf("%s: value %q at its offset, want %q", k, r.Value, value(k))
		case len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != k:
			t.Fatalf("%s: headers %v", k, r.Headers)
		}
	}
}

// TestKgoProducerFailsPromises: a record the cluster refuses (its topic
// does not exist) fails its promise, which is how goka learns that a
// table write was lost and fails the processor.
func TestKgoProducerFailsPromises(t *testing.T) {
	if testing.Short() {
		t.Skip("produces to the embedded broker")
	}
	b := testenv.Broker(t, "")
	p, err := kgoProducerBuilder([]kgo.Opt{kgo.SeedBrokers(b.Addr())})([]string{b.Addr()}, "test", schemas.Hasher())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	p.Emit("no-such-topic", "k", []byte("v")).Then(func(err error) { done <- err })
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a record to a missing topic was acknowledged")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the promise of a record to a missing topic never finished")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestKgoProducerTakesTheUsersOptions: the member's Kafka options come
// after the producer's own, so a user's --compression reaches the
// changelog, the marks and the dead letters.
func TestKgoProducerTakesTheUsersOptions(t *testing.T) {
	if testing.Short() {
		t.Skip("produces to the embedded broker")
	}
	b := testenv.Broker(t, "")
	testenv.CreateTopic(t, b.Addr(), "t", 1, nil)
	p, err := kgoProducerBuilder([]kgo.Opt{kgo.SeedBrokers(b.Addr()), kgo.ProducerBatchCompression(kgo.Lz4Compression())})(
		[]string{b.Addr()}, "test", schemas.Hasher())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 50 {
		keys = append(keys, fmt.Sprint("key ", i))
	}
	// One value repeated: a batch of them compresses whatever its size.
	emitAll(t, p, "t", keys, func(string) []byte { return []byte(strings.Repeat("compressible ", 20)) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range testenv.ReadN(t, ctx, []string{b.Addr()}, "t", len(keys), 0) {
		if c := r.Attrs.CompressionType(); c != 3 { // lz4
			t.Fatalf("record %s in a batch of codec %d, want lz4 (3)", r.Key, c)
		}
	}
}
