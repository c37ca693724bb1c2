package interop_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/provision"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestStockKafkajsReadsOurTopics: with turnstile's default compression,
// kafkajs exactly as npm installs it (no codec plugins) reads the sink
// topic the pipeline publishes and the input our producer writes, both set
// up from clientconf as the turnstile commands do. A topic in franz-go's
// own default codec, snappy, crashes the same consumer: why the default is
// not franz-go's.
func TestStockKafkajsReadsOurTopics(t *testing.T) {
	node := nodeClient(t)
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := schemas.Register(ctx, schemas.RegisterConfig{Registry: schemas.RegistryConfig{URL: s.registry}}); err != nil {
		t.Fatal(err)
	}
	cc := clientconf.Config{Brokers: []string{s.broker}, RegistryURL: s.registry} // no --compression: the default
	kopts, err := cc.KgoOpts()
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := processors.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p, err := processors.New(processors.Config{
		Brokers: cc.Brokers, Sarama: cc.ApplySarama, KafkaOpts: kopts, Registry: cc.SRClient(),
		Partitions: 2, IdleTimeout: time.Second, TickInterval: 200 * time.Millisecond, MaxFuture: -1,
		State:  state.Options{Dir: t.TempDir(), MemTableSize: 4 << 20, CacheSize: 8 << 20},
		Logger: testenv.Logger(t),
	}, metrics)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	topics := processors.DefaultTopics()
	if _, err := producer.Run(ctx, producer.Config{RegistryURL: s.registry, KafkaOpts: kopts, Limit: 200, Speed: -1,
		Synthetic: producer.SyntheticConfig{Start: time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC), Interval: time.Minute,
			MaxBooths: 2, DevicesPerBooth: 2},
		Progress: producer.ProgressOff,
		// As turnstile produce does: create the input topic if the member
		// has not yet.
		Prepare: func(ctx context.Context, cl *kgo.Client) error {
			pipe := processors.Config{Partitions: 2}
			pipe.Defaults()
			specs, err := provision.Select(pipe.TopicSpecs(), topics.Input)
			if err == nil {
				_, err = provision.Create(ctx, kadm.NewClient(cl), specs, 1)
			}
			return err
		},
	}); err != nil {
		t.Fatal(err)
	}
	sink := testenv.ReadN(t, ctx, []string{s.broker}, topics.DeviceWindows, 10, 0)
	for _, r := range sink {
		if c := r.Attrs.CompressionType(); c != 0 && c != 1 {
			t.Fatalf("sink batch codec %d: stock kafkajs reads only none (0) and gzip (1)", c)
		}
	}

	common := []string{"--bootstrap", s.broker, "--registry", s.registry, "--timeout", "30", "--stock"}
	type consumed struct {
		Consumed []struct {
			Key   *string        `json:"key"`
			Value map[string]any `json:"value"`
		} `json:"consumed"`
	}
	for _, tc := range []struct{ topic, field string }{{topics.DeviceWindows, "START"}, {topics.Input, "ENTRIES"}} {
		out := runJSON[consumed](t, node, append(common, "consume", "--topic", tc.topic, "--group", "stock-"+tc.topic, "--count", "10")...)
		if len(out.Consumed) != 10 {
			t.Fatalf("stock kafkajs read %d records of %s, want 10", len(out.Consumed), tc.topic)
		}
		for _, r := range out.Consumed {
			if _, ok := r.Value[tc.field]; !ok || r.Key == nil {
				t.Fatalf("%s: stock kafkajs decoded %v (key %v)", tc.topic, r.Value, r.Key)
			}
		}
	}

	// The same consumer on a snappy topic.
	const snappyTopic = "interop-snappy"
	testenv.CreateTopic(t, s.broker, snappyTopic, 1, nil)
	snappy := cc
	snappy.Compression = clientconf.CompressionSnappy
	sopts, err := snappy.KgoOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(sopts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, r := range sink {
		recs = append(recs, &kgo.Record{Topic: snappyTopic, Key: r.Key, Value: r.Value})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stderr := node.runFailing(t, append(common, "consume", "--topic", snappyTopic, "--group", "stock-snappy", "--count", "10")...)
	if !strings.Contains(stderr, "Snappy compression not implemented") {
		t.Errorf("stock kafkajs on a snappy topic failed otherwise:\n%s", stderr)
	}
}

// runFailing runs the script expecting it to fail, and returns its
// stderr; it fails the test if the script succeeds.
func (c client) runFailing(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), childTimeout)
	defer cancel()
	argv := append(slices.Clone(c.argv), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err == nil {
		t.Fatalf("interop: %s succeeded:\n%s", strings.Join(argv, " "), stdout.Bytes())
	}
	return stderr.String()
}
