package interop_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestThirdPartyProducerFeedsPipeline: a stream produced by librdkafka's
// Python client with the Confluent Avro serializer (random keys, librdkafka's
// own partitioner, its own schema registration), with readings out of order,
// late within retention, duplicated, and bad records mixed in, converges on
// the sink topics to the windows computed independently; then readings older
// than retention land on the too-late topic, and every input record is
// accounted for: input = accepted + duplicates + dead-lettered + too late.
func TestThirdPartyProducerFeedsPipeline(t *testing.T) {
	py := pythonClient(t)
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topics := processors.DefaultTopics()
	common := []string{"--bootstrap", s.broker, "--registry", s.registry, "--timeout", "30"}

	rng := rand.New(rand.NewPCG(5, 5))
	readings := interopReadings(rng, 8, 25)
	// Arrival: local shuffles, some readings held back past their
	// window's close (corrections), exact duplicates.
	arrive := append([]schemas.Reading(nil), readings...)
	for i := range arrive {
		if j := i + rng.IntN(6); j < len(arrive) {
			arrive[i], arrive[j] = arrive[j], arrive[i]
		}
	}
	heldBack := map[string]bool{}
	for range 12 {
		j := rng.IntN(len(arrive) / 2)
		held := arrive[j]
		heldBack[held.ID] = true
		arrive = append(append(arrive[:j:j], arrive[j+1:]...), held)
	}
	dups := 0
	for range 6 {
		arrive = append(arrive, arrive[rng.IntN(len(arrive))])
		dups++
	}
	invalid := readings[7]
	invalid.ID, invalid.Entries = "negative-entries", -3 // Avro-valid, rejected by validation
	bad := []badRecord{
		{raw: []byte("not avro at all")},                          // wrong magic byte
		{raw: append([]byte{0, 0, 0, 0x7f, 0x7f}, "whatever"...)}, // a schema id the registry never issued
		{raw: []byte{0, 0, 0}},                                    // truncated header
		{tombstone: true},                                         // null value
		{reading: &invalid},                                       // a field the domain rejects
		{reading: withField(readings[3], func(r *schemas.Reading) { r.Timestamp, r.ID = "yesterday", "bad-time" })},
	}
	phase1 := writeRecords(t, rng, arrive, bad[:3])
	// The input topic and every other topic exist before the producer runs
	// (as a deployment creates them); the pipeline starts only after the
	// whole first phase is on the topic, so no idle advance can overtake it.
	createTopics(t, ctx, s, topics)
	out := runJSON[produceOut](t, py, append(common, "produce", "--topic", topics.Input, "--file", phase1)...)
	if out.Readings != len(arrive) || out.Raw != 3 {
		t.Fatalf("python produced %+v, want %d readings and 3 raw records", out, len(arrive))
	}

	reg := prometheus.NewRegistry()
	metrics, err := processors.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	sr := srclient.CreateSchemaRegistryClient(s.registry)
	cfg := processors.Config{
		Brokers: []string{s.broker}, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(s.broker)}, Registry: sr,
		Partitions: 3, Window: 5 * time.Minute, Retention: 2 * time.Hour,
		IdleTimeout: 2 * time.Second, TickInterval: 200 * time.Millisecond, MaxFuture: -1,
		State:  state.Options{Dir: t.TempDir(), MemTableSize: 4 << 20, CacheSize: 8 << 20},
		Logger: testenv.Logger(t),
	}
	p, err := processors.New(cfg, metrics)
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

	params := reference.Params{SizeMs: 5 * 60_000, SlideMs: 5 * 60_000, Cumulative: true, MaxDelta: 10000}
	want := reference.Devices(params, reference.FromSchemas(readings))
	wantSt := reference.StationsOf(want, reference.FromSchemas(readings))
	checkSinks := func() {
		t.Helper()
		devCodec, _ := codecs.NewDeviceWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(topics.DeviceWindows)})
		testenv.ReadSink(t, ctx, []string{s.broker}, topics.DeviceWindows, func(b []byte) (schemas.DeviceWindow, int64, error) {
			w, err := devCodec.Unmarshal(b)
			return w, int64(w.Revision), err
		}, func(m map[string]schemas.DeviceWindow) string { return reference.DiffDevices(m, want) })
		stCodec, _ := codecs.NewStationWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(topics.StationWindows)})
		testenv.ReadSink(t, ctx, []string{s.broker}, topics.StationWindows, func(b []byte) (schemas.StationWindow, int64, error) {
			w, err := stCodec.Unmarshal(b)
			return w, int64(w.Revision), err
		}, func(m map[string]schemas.StationWindow) string { return reference.DiffStations(m, wantSt) })
	}
	checkSinks()
	t.Logf("%d device and %d station windows match the reference", len(want), len(wantSt))
	// A backlog from a third-party producer: every window is published
	// once, except those the held-back readings change.
	devOK, stOK := reference.SinkKeys(reference.Changeable(params, reference.FromSchemas(readings), heldBack))
	testenv.CheckRevisions(t, ctx, testenv.Sinks{Brokers: []string{s.broker}, Registry: sr,
		DeviceTopic: topics.DeviceWindows, StationTopic: topics.StationWindows}, devOK, stOK)

	// Phase 2: the pipeline has closed everything (its input partitions
	// idle, the watermark past the last window), so readings four hours
	// older than the first phase's are older than the watermark minus the
	// 2h retention: too late. A replayed duplicate of the first phase rides
	// along (within retention: a duplicate).
	tooLate := interopReadings(rand.New(rand.NewPCG(6, 6)), 3, 4)
	for i := range tooLate {
		tooLate[i].ID = "too-late-" + strconv.Itoa(i)
		at, err := tooLate[i].ParseEventTime()
		if err != nil {
			t.Fatal(err)
		}
		hadEventTime := !tooLate[i].EventTime.IsZero()
		tooLate[i].SetTimes(at.Add(-4 * time.Hour))
		if hadEventTime {
			tooLate[i].EventTime = at.Add(-4 * time.Hour)
		}
	}
	dups++
	phase2 := writeRecords(t, rng, append(append([]schemas.Reading(nil), tooLate...), readings[10]), bad[3:])
	out = runJSON[produceOut](t, py, append(common, "produce", "--topic", topics.Input, "--file", phase2)...)
	if out.Readings != len(tooLate)+3 || out.Tombstones != 1 {
		t.Fatalf("python produced %+v", out)
	}

	dead := testenv.ReadN(t, ctx, []string{s.broker}, topics.DeadLetters, len(bad), time.Second)
	reasons := map[string]int{}
	for _, r := range dead {
		for _, h := range r.Headers {
			if h.Key == processors.HeaderReason {
				reasons[string(h.Value)]++
			}
		}
	}
	wantReasons := map[string]int{string(codecs.ReasonMagicByte): 1, string(codecs.ReasonUnknownSchemaID): 1,
		string(codecs.ReasonTruncated): 1, string(codecs.ReasonEmpty): 1, string(codecs.ReasonInvalidField): 2}
	if fmt.Sprint(reasons) != fmt.Sprint(wantReasons) {
		t.Errorf("dead-letter reasons %v, want %v", reasons, wantReasons)
	}
	lateCodec, _ := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: sr, Subject: schemas.Subject(topics.Late)}, SkipValidation: true})
	lateIDs := map[string]bool{}
	for _, r := range testenv.ReadN(t, ctx, []string{s.broker}, topics.Late, len(tooLate), time.Second) {
		rd, err := lateCodec.DecodeReading(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		lateIDs[rd.ID] = true
	}
	for _, r := range tooLate {
		if !lateIDs[r.ID] {
			t.Errorf("too-late reading %s is not on %s", r.ID, topics.Late)
		}
	}
	// The late readings changed nothing that was published.
	checkSinks()

	// Accounting, from the member's own counters.
	input := len(arrive) + len(tooLate) + 1 + len(bad)
	got := gather(t, reg)
	accepted := got["turnstile_records_in_total{stage=windows}"] - got["turnstile_duplicates_total"] - got["turnstile_late_total"]
	checks := []struct {
		what      string
		got, want float64
	}{
		{"records in (ingest)", got["turnstile_records_in_total{stage=ingest}"], float64(input)},
		{"rejected", sumPrefix(got, "turnstile_rejected_total"), float64(len(bad))},
		{"too late", got["turnstile_late_total"], float64(len(tooLate))},
		{"duplicates", got["turnstile_duplicates_total"], float64(dups)},
		{"accepted", accepted, float64(len(readings))},
		{"input = accepted + duplicates + dead-lettered + too late", float64(input),
			accepted + got["turnstile_duplicates_total"] + sumPrefix(got, "turnstile_rejected_total") + got["turnstile_late_total"]},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	t.Logf("accounted: %d input = %v accepted + %d duplicates + %d dead-lettered + %d too late",
		input, accepted, dups, len(bad), len(tooLate))
}

// interopReadings makes cumulative readings of devices at two stations,
// every ~4 minutes with jitter, counters that sometimes reset, in event
// time order; every other one carries EVENT_TIME (the v2 field).
func interopReadings(rng *rand.Rand, devices, perDevice int) []schemas.Reading {
	base := time.Date(2024, 1, 6, 6, 0, 0, 0, time.UTC)
	var out []schemas.Reading
	for i := 0; i < perDevice; i++ {
		for d := 0; d < devices; d++ {
			st := d % 2
			r := schemas.Reading{CA: fmt.Sprintf("PY%02d", st), Unit: "R901", SCP: fmt.Sprintf("00-00-%02d", d),
				Station: fmt.Sprintf("INTEROP %c", 'A'+st), LineName: "NQR", Division: "BMT", Desc: "REGULAR",
				Entries: int64(1000*d + 37*i + rng.IntN(30)), Exits: int64(500*d + 11*i + rng.IntN(10)),
				ID: fmt.Sprintf("py-%d-%d", d, i)}
			if rng.IntN(40) == 0 {
				r.Entries = int64(rng.IntN(20)) // a counter reset
			}
			at := base.Add(time.Duration(i)*4*time.Minute + time.Duration(rng.IntN(50))*time.Second)
			r.SetTimes(at)
			if (i+d)%2 == 0 {
				r.EventTime = at
			}
			out = append(out, r)
		}
	}
	return out
}

func withField(r schemas.Reading, f func(*schemas.Reading)) *schemas.Reading {
	f(&r)
	return &r
}

type badRecord struct {
	raw       []byte
	tombstone bool
	reading   *schemas.Reading
}

type produceOut struct {
	Readings   int `json:"readings"`
	Raw        int `json:"raw"`
	Tombstones int `json:"tombstones"`
}

// writeRecords writes the readings and the bad records, in that order, as
// the JSON lines interop.py's produce reads, each with a random key (the
// original demo keyed by UUID).
func writeRecords(t *testing.T, rng *rand.Rand, rs []schemas.Reading, bad []badRecord) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "records-*.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	key := func() string {
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:], rng.Uint64())
		binary.LittleEndian.PutUint64(b[8:], rng.Uint64())
		return fmt.Sprintf("%x", b)
	}
	line := func(v map[string]any) {
		v["key"] = key()
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	for i := range rs {
		line(map[string]any{"reading": avroJSON(&rs[i])})
	}
	for _, b := range bad {
		switch {
		case b.reading != nil:
			line(map[string]any{"reading": avroJSON(b.reading)})
		case b.tombstone:
			line(map[string]any{})
		default:
			line(map[string]any{"raw": base64.StdEncoding.EncodeToString(b.raw)})
		}
	}
	return filepath.Clean(f.Name())
}

// avroJSON is a reading with the Avro field names; EVENT_TIME in epoch ms.
func avroJSON(r *schemas.Reading) map[string]any {
	m := map[string]any{"CA": r.CA, "UNIT": r.Unit, "SCP": r.SCP, "STATION": r.Station, "LINENAME": r.LineName,
		"DIVISION": r.Division, "DATE": r.Date, "TIME": r.Time, "DESC": r.Desc, "ENTRIES": r.Entries, "EXITS": r.Exits,
		"ID": r.ID, "TIMESTAMP": r.Timestamp, "EVENT_TIME": nil, "SOURCE": "python-confluent-kafka"}
	if !r.EventTime.IsZero() {
		m["EVENT_TIME"] = r.EventTime.UnixMilli()
	}
	return m
}

func createTopics(t *testing.T, ctx context.Context, s stack, topics processors.Topics) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg := processors.Config{Topics: topics, Partitions: 3}
	cfg.Defaults()
	if _, _, err := processors.EnsureTopics(ctx, kadm.NewClient(cl), cfg.TopicSpecs(), 1); err != nil {
		t.Fatal(err)
	}
}

// gather flattens a registry's counters as name{label=value,...} -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if len(m.GetLabel()) > 0 {
				name += "{"
				for i, l := range m.GetLabel() {
					if i > 0 {
						name += ","
					}
					name += l.GetName() + "=" + l.GetValue()
				}
				name += "}"
			}
			if c := m.GetCounter(); c != nil {
				out[name] = c.GetValue()
			}
		}
	}
	return out
}

func sumPrefix(m map[string]float64, prefix string) float64 {
	var sum float64
	for k, v := range m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			sum += v
		}
	}
	return sum
}
