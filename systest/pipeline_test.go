package systest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/internal/reference"
	"github.com/turnstile-streams/turnstile/internal/testenv"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// stack is the embedded broker and registry with the clients a test needs.
type stack struct {
	brokers  []string
	registry srclient.ISchemaRegistryClient
	client   *kgo.Client
}

func newStack(t *testing.T) *stack {
	t.Helper()
	brokers, sr, cl := testenv.Stack(t)
	return &stack{brokers: brokers, registry: sr, client: cl}
}

func (s *stack) config(t *testing.T) processors.Config {
	return processors.Config{
		Brokers: s.brokers, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(s.brokers...)}, Registry: s.registry,
		Partitions: 3, Window: 5 * time.Minute, Retention: 2 * time.Hour,
		IdleTimeout: 2 * time.Second, TickInterval: 200 * time.Millisecond,
		MaxFuture: -1, State: stateOptions(t), Logger: testenv.Logger(t),
	}
}

// synthetic makes cumulative readings for devices of a few stations, every
// ~4 minutes with jitter, counters that sometimes reset.
func synthetic(seed uint64, devices, perDevice int) []schemas.Reading {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	var out []schemas.Reading
	for d := 0; d < devices; d++ {
		st := d % 3
		e, x := int64(1000*d), int64(500*d)
		for i := 0; i < perDevice; i++ {
			e += int64(rng.IntN(40))
			x += int64(rng.IntN(15))
			if rng.IntN(25) == 0 {
				e = int64(rng.IntN(50))
			}
			r := schemas.Reading{CA: fmt.Sprintf("A%03d", st), Unit: fmt.Sprintf("R%03d", st), SCP: fmt.Sprintf("02-00-%02d", d),
				Station: fmt.Sprintf("STATION %d", st), LineName: "NQR", Division: "BMT", Desc: "REGULAR",
				Entries: e, Exits: x, ID: fmt.Sprintf("id-%d-%d", d, i)}
			r.SetTimes(base.Add(time.Duration(i)*4*time.Minute + time.Duration(rng.IntN(60))*time.Second))
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp < out[j].Timestamp })
	return out
}

func (s *stack) produce(t *testing.T, ctx context.Context, topic string, codec *codecs.ReadingCodec, rs []schemas.Reading, bad [][]byte) {
	t.Helper()
	for _, r := range rs {
		b, err := codec.EncodeReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		s.client.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(r.ID), Value: b}, nil) // keyed like the original demo: by UUID
	}
	for _, b := range bad {
		s.client.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte("bad"), Value: b}, nil)
	}
	if err := s.client.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// readSink reads a sink topic until diff is satisfied (testenv.ReadSink).
func readSink[T any](t *testing.T, ctx context.Context, s *stack, topic string, decode func([]byte) (T, int32, error), diff func(map[string]T) string) map[string]T {
	t.Helper()
	return testenv.ReadSink(t, ctx, s.brokers, topic, func(b []byte) (T, int64, error) {
		v, rev, err := decode(b)
		return v, int64(rev), err
	}, diff)
}

func TestPipelineMatchesReference(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	metrics, err := processors.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	runPipelineWith(t, ctx, cancel, s.config(t), metrics)

	topics := processors.DefaultTopics()
	inCodec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: s.registry, Subject: schemas.Subject(topics.Input)}, WriterVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	readings := synthetic(1, 12, 30)
	// Arrival order: local shuffles (out of order within grace), a few
	// readings delayed past their window's close (corrections), duplicates.
	rng := rand.New(rand.NewPCG(9, 9))
	arrive := append([]schemas.Reading(nil), readings...)
	for i := range arrive {
		if j := i + rng.IntN(5); j < len(arrive) {
			arrive[i], arrive[j] = arrive[j], arrive[i]
		}
	}
	for i := 0; i < 10; i++ {
		j := rng.IntN(len(arrive) / 2)
		late := arrive[j]
		arrive = append(arrive[:j], arrive[j+1:]...)
		arrive = append(arrive, late)
	}
	arrive = append(arrive, arrive[3], arrive[50], arrive[100])
	bad := [][]byte{{1, 2, 3}, {0, 0, 0, 0, 99, 1}, []byte("not avro at all"), nil /* a tombstone */}
	s.produce(t, ctx, topics.Input, inCodec, arrive, bad)

	checkSinks(t, ctx, s, reference.FromSchemas(readings))

	dead := readAll(t, ctx, s, topics.DeadLetters, len(bad))
	sources := map[string]bool{}
	for _, r := range dead {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[processors.HeaderReason] == "" || h[processors.HeaderSourceTopic] != topics.Input {
			t.Errorf("dead letter without reason or source: %v", h)
		}
		sources[h[processors.HeaderSourcePartition]+"/"+h[processors.HeaderSourceOffset]] = true
	}
	if len(sources) != len(bad) {
		t.Errorf("dead letters name %d distinct source records, want %d", len(sources), len(bad))
	}

	// Every record accounted for: input = applied + duplicates + too late +
	// dead-lettered, each distinct reading applied once.
	// (The duplicates change no window: wait until the device stage has
	// seen them.)
	var snap processors.Snapshot
	var a, d, l float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		snap = metrics.Snapshot()
		a, d, l = snap.Outcomes[processors.OutcomeApplied], snap.Outcomes[processors.OutcomeDuplicate], snap.Outcomes[processors.OutcomeLate]
		if a+d+l >= float64(len(arrive)) || time.Now().After(deadline) {
			break
		}
	}
	if snap.Rejected != float64(len(bad)) || a+d+l != float64(len(arrive)) || a+l != float64(len(readings)) {
		t.Errorf("accounting: %d records in = %v applied + %v duplicates + %v too late + %v dead-lettered; want %d distinct readings and %d dead-lettered",
			len(arrive)+len(bad), a, d, l, snap.Rejected, len(readings), len(bad))
	}
}

func matchesDevices(got map[string]schemas.DeviceWindow, want map[reference.DeviceKey]reference.Row) string {
	return reference.DiffDevices(got, want)
}

func matchesStations(got map[string]schemas.StationWindow, want map[reference.StationKey]reference.Row) string {
	return reference.DiffStations(got, want)
}

// readAll reads n records of a topic from the start.
func readAll(t *testing.T, ctx context.Context, s *stack, topic string, n int) []*kgo.Record {
	t.Helper()
	return testenv.ReadN(t, ctx, s.brokers, topic, n, 0)
}

// lateSet follows the too-late topic so a test can compute the reference
// over exactly the accepted readings (input = accepted + dead-lettered +
// too late).
type lateSet struct {
	cl    *kgo.Client
	codec *codecs.ReadingCodec
	ids   map[string]bool
}

func newLateSet(t *testing.T, s *stack, topic string) *lateSet {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: s.registry, Subject: schemas.Subject(topic)}, SkipValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	return &lateSet{cl: cl, codec: codec, ids: map[string]bool{}}
}

// poll reads what arrived since the last call.
func (l *lateSet) poll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	l.cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
		rd, err := l.codec.DecodeReading(r.Value)
		if err != nil {
			t.Errorf("late topic: %v", err)
			return
		}
		l.ids[rd.ID] = true
	})
}

func (l *lateSet) accepted(rs []schemas.Reading) []schemas.Reading {
	var out []schemas.Reading
	for _, r := range rs {
		if !l.ids[r.ID] {
			out = append(out, r)
		}
	}
	return out
}

// runPipeline runs a pipeline member until the test ends; a Run error fails
// the test and cancels ctx.
func runPipeline(t *testing.T, ctx context.Context, cancel context.CancelFunc, cfg processors.Config) {
	t.Helper()
	runPipelineWith(t, ctx, cancel, cfg, nil)
}
