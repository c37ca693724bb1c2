package systest

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/replay"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// backlog is input that arrives faster than the pipeline applies it, the
// way a catch-up, a restart after downtime or a replay sees it: readings
// spread over the input partitions at random (random keys), each partition
// in arrival order (event time plus jitter below grace), a few readings
// delayed past grace.
type backlog struct {
	readings []schemas.Reading   // every reading
	parts    [][]schemas.Reading // arrival order per input partition
	arrivals [][]int64           // each one's arrival time (Unix ms)
	late     map[string]bool     // IDs of the readings delayed past grace
}

func makeBacklog(seed uint64, readings []schemas.Reading, partitions int, jitter time.Duration, lateFrac float64) backlog {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := backlog{readings: readings, parts: make([][]schemas.Reading, partitions), arrivals: make([][]int64, partitions), late: map[string]bool{}}
	arrival := map[string]int64{}
	for _, r := range readings {
		t, _ := r.ParseEventTime()
		at := t.UnixMilli() + rng.Int64N(jitter.Milliseconds())
		if rng.Float64() < lateFrac {
			at = t.UnixMilli() + time.Hour.Milliseconds() + rng.Int64N(2*time.Hour.Milliseconds())
			b.late[r.ID] = true
		}
		arrival[r.ID] = at
		p := rng.IntN(partitions)
		b.parts[p] = append(b.parts[p], r)
	}
	for p, part := range b.parts {
		sort.SliceStable(part, func(i, j int) bool { return arrival[part[i].ID] < arrival[part[j].ID] })
		for _, r := range part {
			b.arrivals[p] = append(b.arrivals[p], arrival[r.ID])
		}
	}
	return b
}

// installments cuts the arrival span into n equal parts and returns the
// n-1 arrival times between them.
func (b backlog) installments(n int) []int64 {
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, at := range b.arrivals {
		if len(at) > 0 {
			first, last = min(first, at[0]), max(last, at[len(at)-1])
		}
	}
	var cuts []int64
	for i := 1; i < n; i++ {
		cuts = append(cuts, first+(last-first)*int64(i)/int64(n))
	}
	return cuts
}

// produce writes the readings that arrive in [from, to) to their input
// partitions, in order, plus extra records on partition 0.
func (b backlog) produce(t *testing.T, ctx context.Context, s *stack, codec *codecs.ReadingCodec, from, to int64, extra [][]byte) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topic := processors.DefaultTopics().Input
	for p, part := range b.parts {
		for i, r := range part {
			if at := b.arrivals[p][i]; at < from || at >= to {
				continue
			}
			v, err := codec.EncodeReading(&r)
			if err != nil {
				t.Fatal(err)
			}
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte(r.ID), Value: v}, nil)
		}
	}
	for _, v := range extra {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Key: []byte("extra"), Value: v}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func backlogConfig(t *testing.T, s *stack) processors.Config {
	cfg := s.config(t)
	cfg.Partitions = 6
	cfg.Retention = 24 * time.Hour // every delayed reading is a correction, none too late
	// Marks as often as the ingest stage can send them: windows close all
	// through the backlog, not only when the input runs dry (the default
	// throttle would send only a few marks over so small a backlog).
	cfg.MarkInterval = time.Millisecond
	// Longer than the pause between two installments of the backlog: an
	// input that went wholly idle there would close the last windows with
	// data, and readings of the next installment would revise them.
	cfg.IdleTimeout = 5 * time.Second
	cfg.MaxFuture = 0 // the default check: a reading far in the future is dead-lettered
	return cfg
}

// futureReading is valid Avro with an event time a year ahead: it must be
// dead-lettered, not push a source watermark forward.
func futureReading(t *testing.T, codec *codecs.ReadingCodec) []byte {
	t.Helper()
	r := schemas.Reading{CA: "F001", Unit: "R001", SCP: "00-00-00", Station: "FUTURE", LineName: "1", Division: "IRT",
		Desc: "REGULAR", Entries: 1, Exits: 1, ID: "future"}
	r.SetTimes(time.Now().AddDate(1, 0, 0).UTC())
	b, err := codec.EncodeReading(&r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBacklogPublishesOnce: a backlog over six input partitions with
// random keys is exact, and every device and station window is
// published once, except the windows a reading later than grace changes.
// Before watermarks went through the graph, most windows of such a backlog
// were published several times (the fastest input partition closed them).
func TestBacklogPublishesOnce(t *testing.T) {
	for _, mode := range []string{"one run", "member restarted mid-backlog", "replayed from earliest"} {
		restart, replayed := mode == "member restarted mid-backlog", mode == "replayed from earliest"
		t.Run(mode, func(t *testing.T) {
			if mode != "one run" && testing.Short() {
				t.Skip("-short")
			}
			s := newStack(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := backlogConfig(t, s)
			// Create the topics first (the backlog goes to six partitions),
			// without a member: one running before the backlog would mark
			// the empty input partitions idle.
			full := cfg
			full.Defaults()
			if _, _, err := processors.EnsureTopics(ctx, kadm.NewClient(s.client), full.TopicSpecs(), 1); err != nil {
				t.Fatal(err)
			}

			// The backlog arrives in three installments, the first before
			// the member starts, each next one once the pipeline has caught
			// up on the one before. So windows have certainly closed when
			// the readings delayed past them arrive, however fast the
			// member applies an installment (one preloaded backlog can be
			// applied before any watermark mark is merged, and then no
			// window is corrected; replay's generation 1 below is that
			// case).
			codec := inputCodec(t, s)
			b := makeBacklog(3, synthetic(5, 60, 90), 6, 90*time.Second, 0.03)
			cuts := b.installments(3)
			b.produce(t, ctx, s, codec, math.MinInt64, cuts[0], [][]byte{futureReading(t, codec)})

			m := runMember(t, ctx, cancel, cfg, nil)
			members := []*inProcess{m}
			adm := kadm.NewClient(s.client)
			waitCaughtUp(t, ctx, adm)
			b.produce(t, ctx, s, codec, cuts[0], cuts[1], nil)
			if restart {
				// Stop the member while it applies the second installment,
				// then start it again over the same local state.
				testenv.ReadN(t, ctx, s.brokers, processors.DefaultTopics().DeviceWindows, 1500, 0)
				m.stop()
				members = append(members, runMember(t, ctx, cancel, cfg, nil))
			}
			waitCaughtUp(t, ctx, adm)
			b.produce(t, ctx, s, codec, cuts[1], math.MaxInt64, nil)
			checkSinks(t, ctx, s, reference.FromSchemas(b.readings))
			dead := readAll(t, ctx, s, processors.DefaultTopics().DeadLetters, 1)
			if r := dead[0]; headers(r)[processors.HeaderReason] != string(codecs.ReasonFutureEventTime) {
				t.Errorf("the future reading was dead-lettered as %q", headers(r)[processors.HeaderReason])
			}
			if n := endOffset(t, ctx, s, processors.DefaultTopics().Late); n != 0 {
				t.Errorf("%d readings were too late; with 24h of retention none is", n)
			}
			// Every reading accounted for: each distinct reading applied
			// once at the device stage (a restart may redeliver some:
			// duplicates), none too late, the future one dead-lettered.
			var snap processors.Snapshot
			for _, m := range members {
				snap = snap.Add(m.metrics.Snapshot())
			}
			// Across a restart an application whose table write never
			// reached the changelog is undone (the store is rebuilt) and
			// the reading applied again, so applications may exceed it.
			a, l := snap.Outcomes[processors.OutcomeApplied], snap.Outcomes[processors.OutcomeLate]
			if a < float64(len(b.readings)) || !restart && a != float64(len(b.readings)) || l != 0 {
				t.Errorf("device stage: %v applied, %v too late; want %d and 0", a, l, len(b.readings))
			}
			if snap.Rejected != 1 {
				t.Errorf("%v records dead-lettered, want 1", snap.Rejected)
			}
			t.Logf("accounting: %v applied, %v duplicates (redelivered), %v too late, %v dead-lettered",
				snap.Outcomes[processors.OutcomeApplied], snap.Outcomes[processors.OutcomeDuplicate], snap.Outcomes[processors.OutcomeLate], snap.Rejected)
			dev, st := reference.SinkKeys(reference.Changeable(refParams, reference.FromSchemas(b.readings), b.late))
			t.Logf("%d readings, %d delayed past grace", len(b.readings), len(b.late))
			if revised, _ := testenv.CheckRevisions(t, ctx, s.sinks(), dev, st); revised == 0 {
				// The delayed readings arrive an hour or more after their
				// windows: corrections prove windows closed mid-backlog,
				// not only once the input ran dry.
				t.Error("no device window was corrected: windows closed only at the end of the input")
			}
			if !replayed {
				return
			}
			// turnstile replay: the whole backlog again as generation 1,
			// which must publish every window once too, except those the
			// delayed readings change.
			for _, m := range members {
				m.stop()
			}
			rcfg := replay.Config{KafkaOpts: cfg.KafkaOpts, Pipeline: cfg, From: replay.Earliest}
			var plan *replay.Plan
			var err error
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
				var active *replay.ActiveError
				if plan, err = replay.Prepare(ctx, rcfg); !errors.As(err, &active) || time.Now().After(deadline) {
					break // members leaving the groups
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := plan.Execute(ctx); err != nil {
				t.Fatal(err)
			}
			runMember(t, ctx, cancel, cfg, nil)
			refs := reference.FromSchemas(b.readings)
			want := reference.Devices(refParams, refs)
			testenv.WaitGeneration(t, ctx, s.sinks(), 1, want, reference.StationsOf(want, refs))
			sinks := s.sinks()
			sinks.Generation = 1
			testenv.CheckRevisions(t, ctx, sinks, dev, st)
		})
	}
}
