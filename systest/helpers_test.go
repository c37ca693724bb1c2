package systest

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// The shared helpers: readings in (made up, encoded, produced), results
// out (the sink topics read and compared with testsupport/reference), and the
// accounting of every input record.

// refParams is the reference's definition of the windows memberConfig asks
// for: 5-minute tumbling windows of cumulative counters, MaxDelta 10,000.
var refParams = reference.Params{SizeMs: 5 * 60_000, SlideMs: 5 * 60_000, Cumulative: true, MaxDelta: 10000}

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

// readingCodec encodes readings for topic with TurnstileReading version
// version (0: the codec's default).
func readingCodec(t *testing.T, s *stack, topic string, version int) *codecs.ReadingCodec {
	t.Helper()
	c, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: s.registry, Subject: schemas.Subject(topic)}, WriterVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inputCodec is readingCodec for the input topic, version 1.
func inputCodec(t *testing.T, s *stack) *codecs.ReadingCodec {
	t.Helper()
	return readingCodec(t, s, processors.DefaultTopics().Input, 1)
}

// produce writes the readings, then the bad records, to topic and waits
// for every acknowledgement.
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

// readSink reads a sink topic until diff is satisfied (testenv.ReadSink:
// latest revision per key; a (key, revision) published with two contents
// fails the test).
func readSink[T any](t *testing.T, ctx context.Context, s *stack, topic string, decode func([]byte) (T, int32, error), diff func(map[string]T) string) map[string]T {
	t.Helper()
	return testenv.ReadSink(t, ctx, s.brokers, topic, func(b []byte) (T, int64, error) {
		v, rev, err := decode(b)
		return v, int64(rev), err
	}, diff)
}

// waitDevices reads the device sink until diff finds nothing and returns
// what it read.
func waitDevices(t *testing.T, ctx context.Context, s *stack, diff func(map[string]schemas.DeviceWindow) string) map[string]schemas.DeviceWindow {
	t.Helper()
	codec, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject(processors.DefaultTopics().DeviceWindows)})
	if err != nil {
		t.Fatal(err)
	}
	return readSink(t, ctx, s, processors.DefaultTopics().DeviceWindows, func(b []byte) (schemas.DeviceWindow, int32, error) {
		w, err := codec.Unmarshal(b)
		return w, w.Revision, err
	}, diff)
}

// waitStations is waitDevices for the station sink.
func waitStations(t *testing.T, ctx context.Context, s *stack, diff func(map[string]schemas.StationWindow) string) map[string]schemas.StationWindow {
	t.Helper()
	codec, err := codecs.NewStationWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject(processors.DefaultTopics().StationWindows)})
	if err != nil {
		t.Fatal(err)
	}
	return readSink(t, ctx, s, processors.DefaultTopics().StationWindows, func(b []byte) (schemas.StationWindow, int32, error) {
		w, err := codec.Unmarshal(b)
		return w, w.Revision, err
	}, diff)
}

// checkSinks waits until both sink topics hold exactly the reference's
// windows over readings (every key, latest revision) and returns the
// device reference. A reference without windows proves nothing and fails.
func checkSinks(t *testing.T, ctx context.Context, s *stack, readings []reference.Reading) map[reference.DeviceKey]reference.Row {
	t.Helper()
	want := reference.Devices(refParams, readings)
	wantSt := reference.StationsOf(want, readings)
	if len(want) == 0 || len(wantSt) == 0 {
		t.Fatalf("the reference has %d device and %d station windows", len(want), len(wantSt))
	}
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string { return reference.DiffDevices(m, want) })
	waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string { return reference.DiffStations(m, wantSt) })
	return want
}

// convergeToReference waits until the device and station sinks equal the
// reference over the accepted readings: a reading that reached its device
// after stream time minus retention is in the late topic instead (a crash
// can delay one upstream partition behind another), and must be there,
// exactly once, rather than counted. Then it accounts for every input
// record (accountInput).
func convergeToReference(t *testing.T, ctx context.Context, s *stack, readings []schemas.Reading) {
	t.Helper()
	late := newLateSet(t, s, processors.DefaultTopics().Late)
	var want map[reference.DeviceKey]reference.Row
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
		late.poll(t)
		want = reference.Devices(refParams, reference.FromSchemas(late.accepted(readings)))
		return reference.DiffDevices(m, want)
	})
	t.Logf("%d readings, %d too late, %d device windows", len(readings), len(late.ids), len(want))
	accountInput(t, ctx, s, readings, late)

	wantSt := reference.StationsOf(want, reference.FromSchemas(readings))
	waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string { return reference.DiffStations(m, wantSt) })
	t.Logf("%d station windows", len(wantSt))
}

// accountInput checks, from the topics, that every record the test put on the
// input topic is accounted for: the input topic holds exactly the readings
// (nothing extra, nothing lost before ingest), none was dead-lettered (they
// are all valid), and each too-late one is one of them. With the sinks equal
// to the reference over the rest, input = accepted + too late and accepted =
// applied hold exactly (the readings have no duplicates).
func accountInput(t *testing.T, ctx context.Context, s *stack, readings []schemas.Reading, late *lateSet) {
	t.Helper()
	topics := processors.DefaultTopics()
	if n := endOffset(t, ctx, s, topics.Input); n != int64(len(readings)) {
		t.Errorf("accounting: the input topic holds %d records, the test produced %d", n, len(readings))
	}
	if n := endOffset(t, ctx, s, topics.DeadLetters); n != 0 {
		t.Errorf("accounting: %d valid readings were dead-lettered", n)
	}
	ids := make(map[string]bool, len(readings))
	for _, r := range readings {
		ids[r.ID] = true
	}
	for id := range late.ids {
		if !ids[id] {
			t.Errorf("accounting: the too-late topic holds %s, which was never produced", id)
		}
	}
	t.Logf("accounting: %d records in = %d applied + %d too late + 0 dead-lettered", len(readings), len(readings)-len(late.ids), len(late.ids))
}

// extraDevices names published device windows the reference lacks.
func extraDevices(got map[string]schemas.DeviceWindow, want map[reference.DeviceKey]reference.Row) string {
	if len(got) <= len(want) {
		return ""
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k.SinkKey()] = true
	}
	var out []string
	for k := range got {
		if !keys[k] && len(out) < 5 {
			out = append(out, "\nunexpected "+k)
		}
	}
	return strings.Join(out, "")
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

// accepted is rs without the readings seen on the too-late topic.
func (l *lateSet) accepted(rs []schemas.Reading) []schemas.Reading {
	var out []schemas.Reading
	for _, r := range rs {
		if !l.ids[r.ID] {
			out = append(out, r)
		}
	}
	return out
}

// sinks are the stack's sink topics, generation 0.
func (s *stack) sinks() testenv.Sinks {
	t := processors.DefaultTopics()
	return testenv.Sinks{Brokers: s.brokers, Registry: s.registry, DeviceTopic: t.DeviceWindows, StationTopic: t.StationWindows}
}

// readAll reads n records of a topic from the start.
func readAll(t *testing.T, ctx context.Context, s *stack, topic string, n int) []*kgo.Record {
	t.Helper()
	return testenv.ReadN(t, ctx, s.brokers, topic, n, 0)
}

// readFor reads a topic from the start for d and returns what it got.
func readFor(t *testing.T, s *stack, topic string, d time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var out []*kgo.Record
	for ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	return out
}

// endOffset is the number of records a topic's partitions hold.
func endOffset(t *testing.T, ctx context.Context, s *stack, topic string) int64 {
	t.Helper()
	ends, err := kadm.NewClient(s.client).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

// headers are a record's headers by key (the last of a repeated key).
func headers(r *kgo.Record) map[string]string {
	h := map[string]string{}
	for _, x := range r.Headers {
		h[x.Key] = string(x.Value)
	}
	return h
}

// deadLetterSource is the input record a dead letter names:
// "partition/offset".
func deadLetterSource(h map[string]string) string {
	return h[processors.HeaderSourcePartition] + "/" + h[processors.HeaderSourceOffset]
}

// metricCount is how many samples a metric has (a gauge vector: how many
// label sets were set).
func metricCount(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// metricValue sums a metric's samples whose labels include every one of
// labels (name=value pairs).
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				sum += c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				sum += g.GetValue()
			}
		}
	}
	return sum
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// openGzip opens a gzipped file for reading until the test ends.
func openGzip(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return gz
}
