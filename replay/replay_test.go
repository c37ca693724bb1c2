package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/replay"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/testsupport/laketest"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestReplayIncludesLateReadings: readings that arrive later than retention
// land on the too-late topic; a replay from the earliest offset with a
// retention that covers them runs as generation 1; afterwards the sink topics
// (highest generation, then revision) and the compacted lake equal the
// reference computed over all readings, the late ones included.
func TestReplayIncludesLateReadings(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	sr := srclient.CreateSchemaRegistryClient(reg.URL())
	brokers := []string{b.Addr()}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	topics := processors.DefaultTopics()
	cfg := processors.Config{
		Brokers: brokers, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Registry: sr,
		Partitions: 3, Window: 5 * time.Minute, Retention: 30 * time.Minute,
		IdleTimeout: 2 * time.Second, TickInterval: 200 * time.Millisecond, MaxFuture: -1,
		State:  state.Options{Dir: t.TempDir(), MemTableSize: 4 << 20, CacheSize: 8 << 20},
		Logger: testenv.Logger(t),
	}
	// One input partition produced in event-time order: every device
	// partition sees its readings in order, so nothing of the first pass is
	// late by chance although the data spans more than the retention.
	testenv.CreateTopic(t, b.Addr(), topics.Input, 1, nil)
	ensureTopics(t, ctx, cfg)

	// The lake-writer runs throughout, as in a deployment.
	lakeDir := t.TempDir()
	store, err := datalake.Open(ctx, lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	lw, err := datalake.New(datalake.Config{KafkaOpts: cfg.KafkaOpts, Registry: sr, Store: store,
		FlushInterval: 300 * time.Millisecond, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	lakeCtx, stopLake := context.WithCancel(ctx)
	lakeDone := make(chan error, 1)
	go func() { lakeDone <- lw.Run(lakeCtx) }()

	// Phase 1: readings of 6 devices over 100 minutes.
	rng := rand.New(rand.NewPCG(3, 3))
	onTime, late := readings(rng)
	sort.SliceStable(onTime, func(i, j int) bool { return onTime[i].Timestamp < onTime[j].Timestamp })
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: sr, Subject: schemas.Subject(topics.Input)}})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, ctx, brokers, topics.Input, codec, onTime)
	stop := start(t, ctx, cfg)
	wantFirst := expected(onTime)
	checkSinks(t, ctx, brokers, sr, topics, wantFirst, 0)

	// Phase 2: recovered audits from 40 to 80 minutes before the newest
	// reading, beyond the 30-minute retention: too late.
	produce(t, ctx, brokers, topics.Input, codec, late)
	lateIDs := map[string]bool{}
	lateCodec, _ := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: sr, Subject: schemas.Subject(topics.Late)}, SkipValidation: true})
	for _, r := range testenv.ReadN(t, ctx, brokers, topics.Late, len(late), time.Second) {
		rd, err := lateCodec.DecodeReading(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		lateIDs[rd.ID] = true
	}
	if len(lateIDs) != len(late) {
		t.Fatalf("%d distinct readings on the late topic, want %d", len(lateIDs), len(late))
	}

	// A replay refuses while the members run, and says who they are.
	rcfg := replay.Config{KafkaOpts: cfg.KafkaOpts, From: replay.Earliest, Retention: 24 * time.Hour}
	_, err = replay.Prepare(ctx, rcfg)
	var active *replay.ActiveError
	if !errors.As(err, &active) || len(active.Members[processors.DefaultGroups().Windows]) == 0 {
		t.Fatalf("Prepare while members run: %v, want an ActiveError naming the windows group's member", err)
	}
	stop()
	var plan *replay.Plan
	for deadline := time.Now().Add(30 * time.Second); ; {
		if plan, err = replay.Prepare(ctx, rcfg); !errors.As(err, &active) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond) // members leaving
	}
	if err != nil {
		t.Fatal(err)
	}
	var printed bytes.Buffer
	plan.Print(&printed)
	t.Logf("plan:\n%s", printed.String())
	for _, want := range []string{"generation 0 -> 1, from earliest, retention 24h0m0s",
		"clear table turnstile-windows-table",
		"reset turnstile-ingest on mta-turnstile to earliest", "reset turnstile-windows on turnstile-readings to the end",
		"reset turnstile-windows-relay on turnstile-windows-table to the start"} {
		if !strings.Contains(printed.String(), want) {
			t.Errorf("plan does not say %q", want)
		}
	}
	if err := plan.Execute(ctx); err != nil {
		t.Fatal(err)
	}

	// The members start again on the same state directory: they find the
	// recreated tables, start empty, run generation 1 with its retention.
	start(t, ctx, cfg)
	all := append(append([]schemas.Reading(nil), onTime...), late...)
	want := expected(all)
	checkSinks(t, ctx, brokers, sr, topics, want, 1)
	// Each generation publishes every window once, except, in generation
	// 1, the windows the recovered audits change: they arrive after their
	// windows closed (within the new retention: corrections). Generation 0
	// saw them as too late.
	sinks := testenv.Sinks{Brokers: brokers, Registry: sr, DeviceTopic: topics.DeviceWindows, StationTopic: topics.StationWindows}
	testenv.CheckRevisions(t, ctx, sinks, map[string]bool{}, map[string]bool{})
	sinks.Generation = 1
	devOK, stOK := reference.SinkKeys(reference.Changeable(params, reference.FromSchemas(all), lateIDs))
	testenv.CheckRevisions(t, ctx, sinks, devOK, stOK)

	// The lake: after the writer's final flush, compaction keeps one row
	// per window, the highest generation and revision.
	stopLake()
	if err := <-lakeDone; err != nil {
		t.Fatal(err)
	}
	if _, err := datalake.Compact(ctx, datalake.CompactConfig{Store: store, Logger: cfg.Logger}); err != nil {
		t.Fatal(err)
	}
	checkLake(t, lakeDir, want)
}

type want struct {
	devices  map[reference.DeviceKey]reference.Row
	stations map[reference.StationKey]reference.Row
}

var params = reference.Params{SizeMs: 5 * 60_000, SlideMs: 5 * 60_000, Cumulative: true, MaxDelta: 10000}

func expected(rs []schemas.Reading) want {
	refs := reference.FromSchemas(rs)
	d := reference.Devices(params, refs)
	return want{d, reference.StationsOf(d, refs)}
}

// readings makes the on-time readings of 6 devices at 2 stations every ~5
// minutes for 100 minutes, and recovered audits (RECOVR AUD, counters
// between their neighbours') from minute 20 to 60, which arrive last.
func readings(rng *rand.Rand) (onTime, late []schemas.Reading) {
	base := time.Date(2024, 1, 6, 8, 0, 0, 0, time.UTC)
	for d := 0; d < 6; d++ {
		e, x := int64(10_000*d), int64(5_000*d)
		for i := 0; i <= 20; i++ {
			r := schemas.Reading{CA: "R01", Unit: fmt.Sprintf("R%03d", d%2), SCP: fmt.Sprintf("00-00-%02d", d),
				Station: fmt.Sprintf("REPLAY %d", d%2), LineName: "7", Division: "IRT", Desc: "REGULAR",
				Entries: e, Exits: x, ID: fmt.Sprintf("r-%d-%d", d, i)}
			r.SetTimes(base.Add(time.Duration(i) * 5 * time.Minute).Add(time.Duration(rng.IntN(40)) * time.Second))
			onTime = append(onTime, r)
			if i >= 4 && i < 12 && i%2 == 0 {
				a := r
				a.Desc, a.ID = "RECOVR AUD", fmt.Sprintf("audit-%d-%d", d, i)
				a.Entries, a.Exits = e+int64(rng.IntN(30)), x+int64(rng.IntN(10))
				a.SetTimes(base.Add(time.Duration(i)*5*time.Minute + 150*time.Second))
				late = append(late, a)
			}
			e += 30 + int64(rng.IntN(20))
			x += 10 + int64(rng.IntN(5))
		}
	}
	return onTime, late
}

func ensureTopics(t *testing.T, ctx context.Context, cfg processors.Config) {
	t.Helper()
	cl, err := kgo.NewClient(cfg.KafkaOpts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cfg.Defaults()
	if _, _, err := processors.EnsureTopics(ctx, kadm.NewClient(cl), cfg.TopicSpecs(), 1); err != nil {
		t.Fatal(err)
	}
}

func produce(t *testing.T, ctx context.Context, brokers []string, topic string, codec *codecs.ReadingCodec, rs []schemas.Reading) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(schemas.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range rs {
		v, err := codec.EncodeReading(&rs[i])
		if err != nil {
			t.Fatal(err)
		}
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(rs[i].ID), Value: v}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// start runs a pipeline member until stop (or the test's end).
func start(t *testing.T, ctx context.Context, cfg processors.Config) (stop func()) {
	t.Helper()
	p, err := processors.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// checkSinks waits until the sink topics' latest windows (highest
// generation, then revision) equal w, all of generation gen.
func checkSinks(t *testing.T, ctx context.Context, brokers []string, sr srclient.ISchemaRegistryClient, topics processors.Topics, w want, gen int32) {
	t.Helper()
	testenv.WaitGeneration(t, ctx, testenv.Sinks{Brokers: brokers, Registry: sr, DeviceTopic: topics.DeviceWindows, StationTopic: topics.StationWindows},
		gen, w.devices, w.stations)
}

// checkLake reads the compacted lake: one row per window, equal to the
// reference, all of generation 1.
func checkLake(t *testing.T, dir string, w want) {
	t.Helper()
	devs, sts := laketest.Compacted(t, dir)
	if d := reference.DiffDevices(devs, w.devices) + testenv.GenerationDiff(devs, 1, func(w schemas.DeviceWindow) int32 { return w.Generation }); d != "" {
		t.Errorf("compacted lake, device windows:\n%s", d)
	}
	if d := reference.DiffStations(sts, w.stations) + testenv.GenerationDiff(sts, 1, func(w schemas.StationWindow) int32 { return w.Generation }); d != "" {
		t.Errorf("compacted lake, station windows:\n%s", d)
	}
	t.Logf("compacted lake: %d device and %d station windows match the reference", len(devs), len(sts))
}
