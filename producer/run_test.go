package producer_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

func fnv32a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// saramaPartition is sarama's hash partitioner, written out: FNV-1a, as an
// int32, modulo n, negated when negative.
func saramaPartition(key []byte, n int32) int32 {
	// A reading key STATION|LINENAME|CA|UNIT|SCP is placed by its station.
	if parts := bytes.Split(key, []byte("|")); len(parts) == 5 {
		key = bytes.Join(parts[:2], []byte("|"))
	}
	p := int32(fnv32a(key)) % n
	if p < 0 {
		p = -p
	}
	return p
}

// TestRunRoundTrip produces a CSV replay with every kind of injection to
// the embedded broker, consumes it back and decodes it.
func TestRunRoundTrip(t *testing.T) {
	e := newEnv(t)
	topic := "roundtrip"
	testenv.CreateTopic(t, e.broker, topic, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var progress bytes.Buffer
	cfg := producer.Config{
		Source: producer.SourceCSV, CSV: producer.CSVConfig{Path: excerpt},
		Topic: topic, RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)},
		LateFraction: 0.1, DuplicateFraction: 0.1, BadFraction: 0.1, Seed: 3,
		Progress: producer.ProgressOn, ProgressWriter: &progress,
	}
	sum, err := producer.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 || sum.Stopped || sum.Sent <= 207 || sum.SchemaID <= 0 {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(progress.String(), "rec/s") {
		t.Errorf("no progress drawn: %q", progress.String())
	}
	// The file's first reading, 12/30/2023 00:00:00 New York time (EST).
	if !sum.FirstEvent.Equal(time.Date(2023, 12, 30, 5, 0, 0, 0, time.UTC)) || sum.LastEvent.Before(time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("event span %v .. %v", sum.FirstEvent, sum.LastEvent)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(e.broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dec, err := codecs.NewReadingCodec(codecs.ReadingConfig{
		Config: codecs.Config{RegistryURL: e.registry, Subject: schemas.Subject(topic)}, MaxFuture: -1})
	if err != nil {
		t.Fatal(err)
	}
	got := map[producer.Injection]int64{}
	var good, bytesSeen int64
	for n := int64(0); n < sum.Sent; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", n, sum.Sent, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			bytesSeen += int64(len(r.Key) + len(r.Value))
			if want := saramaPartition(r.Key, 4); r.Partition != want {
				t.Errorf("key %s in partition %d, sarama puts it in %d", r.Key, r.Partition, want)
			}
			inj := producer.InjectNone
			for _, h := range r.Headers {
				if h.Key == producer.InjectedHeader {
					inj = producer.Injection(h.Value)
				}
			}
			if inj != producer.InjectNone {
				got[inj]++
			}
			reading, err := dec.DecodeReading(r.Value)
			if inj.IsBad() {
				if _, ok := codecs.AsReject(err); !ok {
					t.Errorf("%s record: %v", inj, err)
				}
				return
			}
			if err != nil {
				t.Errorf("%s record: %v", inj, err)
				return
			}
			good++
			if reading.Key() != string(r.Key) {
				t.Errorf("key %s, reading %s", r.Key, reading.Key())
			}
		})
	}
	if bytesSeen != sum.Bytes {
		t.Errorf("bytes: consumed %d, summary %d", bytesSeen, sum.Bytes)
	}
	for k, v := range sum.Injected {
		if got[k] != v {
			t.Errorf("%s: consumed %d, summary %d", k, got[k], v)
		}
	}
	if want := 207 + sum.Injected[producer.InjectDuplicate]; good != want {
		t.Errorf("%d good readings, want %d", good, want)
	}
}

func TestRunPacing(t *testing.T) {
	e := newEnv(t)
	testenv.CreateTopic(t, e.broker, "paced", 1, nil)
	base := producer.Config{
		Topic: "paced", RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)}, Progress: producer.ProgressOff,
		Synthetic: producer.SyntheticConfig{Start: start, Duration: 24 * time.Hour, MaxBooths: 5, DevicesPerBooth: 1},
	}
	tests := []struct {
		name     string
		speed    float64
		rate     float64
		limit    int64
		min, max time.Duration
		sent     int64
	}{
		// 24 h of event time at an hour per second: under 24 s, the last
		// reading being less than 24 h after the start.
		{"speed", 3600, 0, 0, 20 * time.Second, 24 * time.Second, 30},
		{"rate", -1, 10, 11, time.Second, time.Second, 11},
		{"unpaced", -1, 0, 0, 0, 0, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			cfg := base
			cfg.Speed, cfg.Rate, cfg.Limit, cfg.Clock = tt.speed, tt.rate, tt.limit, clock
			sum, err := producer.Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Sent != tt.sent || clock.slept < tt.min || clock.slept > tt.max {
				t.Fatalf("sent %d in %v (fake)", sum.Sent, clock.slept)
			}
		})
	}
}

func TestRunStops(t *testing.T) {
	e := newEnv(t)
	testenv.CreateTopic(t, e.broker, "live", 2, nil)
	cl, err := kgo.NewClient(producer.ClientOpts(kgo.SeedBrokers(e.broker))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	// A live stream (real time) whose first interval began 4 h ago: the
	// readings due so far go out at once, then it waits for the clock.
	sum, err := producer.Run(ctx, producer.Config{
		Topic: "live", RegistryURL: e.registry, Client: cl, Progress: producer.ProgressOff, SchemaVersion: 1,
		Synthetic: producer.SyntheticConfig{Start: time.Now().Add(-4 * time.Hour), MaxBooths: 50},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Stopped || sum.Sent == 0 || sum.Failed != 0 {
		t.Fatalf("summary %+v", sum)
	}
	if sum.LastEvent.After(time.Now()) {
		t.Fatalf("a live stream sent a reading from the future: %v", sum.LastEvent)
	}
}

func TestRunErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := producer.Run(ctx, producer.Config{RegistryURL: e.registry}); err == nil {
		t.Error("no Kafka client accepted")
	}
	if _, err := producer.Run(ctx, producer.Config{KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)}}); err == nil {
		t.Error("no registry accepted")
	}
	_, err := producer.Run(ctx, producer.Config{RegistryURL: "http://127.0.0.1:1", KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)}})
	if !codecs.IsRetryable(err) {
		t.Errorf("registry down: %v", err)
	}
}

// TestRunDeclaresTheEnd: a run whose source ended commits, to its
// EndGroup, the offset after its last record on each partition it wrote
// and 0 on each partition that is still empty; a partition only another
// producer wrote is not declared, and a stopped run declares nothing.
func TestRunDeclaresTheEnd(t *testing.T) {
	e := newEnv(t)
	const topic, group = "bounded", "ends"
	testenv.CreateTopic(t, e.broker, topic, 8, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.broker), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// A stopped run: nothing declared.
	sctx, scancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer scancel()
	sum, err := producer.Run(sctx, producer.Config{Topic: topic, RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)},
		Progress: producer.ProgressOff, EndGroup: group, Synthetic: producer.SyntheticConfig{Start: time.Now().Add(-4 * time.Hour), MaxBooths: 3}})
	if err != nil || !sum.Stopped || sum.EndDeclared {
		t.Fatalf("stopped run: %+v, %v", sum, err)
	}
	if committed, err := adm.FetchOffsets(ctx, group); err == nil && len(committed[topic]) > 0 {
		t.Fatalf("a stopped run declared %v", committed[topic])
	}

	// A bounded run: half a day of three booths' readings, as fast as it
	// goes.
	sum, err = producer.Run(ctx, producer.Config{Topic: topic, RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)},
		Progress: producer.ProgressOff, EndGroup: group, Speed: -1,
		Synthetic: producer.SyntheticConfig{Start: time.Now().Add(-48 * time.Hour), Duration: 12 * time.Hour, MaxBooths: 3}})
	if err != nil || sum.Stopped || !sum.EndDeclared {
		t.Fatalf("bounded run: %+v, %v", sum, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var other int32 = -1
	ends.Each(func(o kadm.ListedOffset) {
		c, ok := committed.Lookup(topic, o.Partition)
		if !ok || c.At != o.Offset {
			t.Errorf("partition %d: end %d, declared %+v (found %v)", o.Partition, o.Offset, c, ok)
		}
		if o.Offset == 0 {
			other = o.Partition
		}
	})
	if other < 0 {
		t.Fatal("the stream reached every partition; the test needs an empty one")
	}

	// Another producer writes to the empty partition; the next bounded
	// run does not declare it (it is not its own and not empty), and
	// leaves its earlier declaration, 0, behind the partition's end.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: other, Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if sum, err = producer.Run(ctx, producer.Config{Topic: topic, RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)},
		Progress: producer.ProgressOff, EndGroup: group, Speed: -1,
		Synthetic: producer.SyntheticConfig{Start: time.Now().Add(-48 * time.Hour), Duration: 12 * time.Hour, MaxBooths: 3}}); err != nil || !sum.EndDeclared {
		t.Fatalf("second bounded run: %+v, %v", sum, err)
	}
	if committed, err = adm.FetchOffsets(ctx, group); err != nil {
		t.Fatal(err)
	}
	if c, _ := committed.Lookup(topic, other); c.At != 0 {
		t.Errorf("the partition another producer wrote is declared at %d", c.At)
	}
}
