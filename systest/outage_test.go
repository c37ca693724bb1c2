package systest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestRegistryOutage stops the schema registry mid-stream and starts it
// again on the same address. While it is down the processors keep going on
// the schemas they cached (windows keep being published); records written
// with a schema id they never saw wait and retry instead of being
// dead-lettered; a producer that needs the registry fails at once, saying
// so. When it is back, everything is processed: the windows equal the
// reference over every reading and the dead-letter topic stays empty.
func TestRegistryOutage(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := startRegistry(t, "127.0.0.1:0", b.Addr())
	regAddr := strings.TrimPrefix(reg.URL(), "http://")
	s := stackOn(t, b.Addr(), reg.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	topics := processors.DefaultTopics()

	// Both writer versions are registered now, but the pipeline sees v2
	// records only once the registry is gone.
	v1 := readingCodec(t, s, topics.Input, 1)
	v2 := readingCodec(t, s, topics.Input, 2)
	for _, c := range []*codecs.ReadingCodec{v1, v2} {
		if _, err := c.Prepare(ctx); err != nil {
			t.Fatal(err)
		}
	}
	log, logs := newLogCapture(t)
	promReg := prometheus.NewRegistry()
	m, err := processors.NewMetrics(promReg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t)
	cfg.Logger = log
	runMember(t, ctx, cancel, cfg, m)

	readings := synthetic(5, 9, 40)
	third := len(readings) / 3
	before, during, unseen := readings[:third], readings[third:2*third], readings[2*third:]
	published := func(topic string) float64 {
		return metricValue(t, promReg, "turnstile_published_total", "topic", topic)
	}
	s.produce(t, ctx, topics.Input, v1, before, nil)
	waitFor(t, ctx, "device and station windows before the outage", func() bool {
		return published(topics.DeviceWindows) > 0 && published(topics.StationWindows) > 0
	})

	closeRegistry(t, reg)
	downAt := published(topics.DeviceWindows)
	s.produce(t, ctx, topics.Input, v1, during, nil)
	waitFor(t, ctx, "windows published on cached schemas while the registry is down", func() bool {
		return published(topics.DeviceWindows) > downAt
	})
	s.produce(t, ctx, topics.Input, v2, unseen, nil)
	waitFor(t, ctx, "records waiting for the registry", func() bool {
		return metricValue(t, promReg, "turnstile_registry_waits_total") >= 3
	})
	if dead := readFor(t, s, topics.DeadLetters, time.Second); len(dead) > 0 {
		t.Fatalf("%d records dead-lettered while the registry was down", len(dead))
	}

	// A producer that needs the registry fails clearly and promptly.
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	_, perr := producer.Run(pctx, producer.Config{Topic: topics.Input, RegistryURL: "http://" + regAddr,
		KafkaOpts: s.kafkaOpts(), Limit: 1, Progress: producer.ProgressOff})
	pcancel()
	if !errors.Is(perr, codecs.ErrRegistryUnavailable) || !strings.Contains(perr.Error(), "schema registry unavailable") {
		t.Errorf("producer with the registry down: %v", perr)
	}

	startRegistry(t, regAddr, b.Addr())
	all := readings
	checkSinks(t, ctx, s, reference.FromSchemas(all))
	if dead := readFor(t, s, topics.DeadLetters, time.Second); len(dead) > 0 {
		t.Errorf("%d records dead-lettered", len(dead))
	}
	if len(logs.matching("waiting for the schema registry")) == 0 {
		t.Error("no record waited for the registry")
	}
	if restarts := logs.matching("restarting"); len(restarts) > 0 {
		t.Errorf("stages restarted during a registry outage:\n%s", strings.Join(restarts, "\n"))
	}
}

// TestBrokerOutage stops the broker (persistent, like a real one) in the
// middle of the stream and starts it again on the same address and data
// directory. The producer, the processors, their relays and the
// lake-writer must ride it out, restarting goka members through the
// supervisor if goka gives up, and lose nothing: the windows equal the
// reference over every reading the producer sent, and the lake holds
// every sink record exactly once.
func TestBrokerOutage(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, "127.0.0.1:0", dir)
	addr := b.Addr()
	s := stackOn(t, addr, testenv.Registry(t, addr).URL())
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	topics := processors.DefaultTopics()
	log, logs := newLogCapture(t)

	cfg := s.config(t)
	cfg.Logger = log
	runMember(t, ctx, cancel, cfg, nil)

	// The lake-writer, recording the offsets each Parquet file covers.
	store, err := datalake.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var (
		filesMu sync.Mutex
		files   []datalake.FileEvent
	)
	lw, err := datalake.New(datalake.Config{KafkaOpts: s.kafkaOpts(), Registry: s.registry, Store: store, FlushInterval: time.Second,
		Format: datalake.Format{NoCSV: true}, Logger: log.With("component", "lake"),
		OnFile: func(e datalake.FileEvent) { filesMu.Lock(); files = append(files, e); filesMu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	lakeCtx, lakeStop := context.WithCancel(ctx)
	lakeDone := make(chan error, 1)
	go func() { lakeDone <- lw.Run(lakeCtx) }()
	defer func() { lakeStop(); <-lakeDone }()

	// The producer: a paced synthetic stream that straddles the outage.
	const limit = 1200
	type result struct {
		sum producer.Summary
		err error
	}
	prodDone := make(chan result, 1)
	go func() {
		sum, err := producer.Run(ctx, producer.Config{Topic: topics.Input, RegistryClient: s.registry, KafkaOpts: s.kafkaOpts(),
			Speed: -1, Rate: 100, Limit: limit, Seed: 3, Progress: producer.ProgressOff, Logger: log.With("component", "producer"),
			Synthetic: producer.SyntheticConfig{Start: time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC), Interval: time.Minute,
				MaxBooths: 4, DevicesPerBooth: 2}})
		prodDone <- result{sum, err}
	}()

	// Down for longer than goka's sarama clients retry (a 5 s outage they
	// ride out by themselves). Since goka produces through franz-go, whose
	// records wait out an outage shorter than their delivery timeout (2
	// minutes), the members may ride this one out too, or a consumer may
	// fail and the supervisor restart them: either way every window must
	// be exact (TestSuperviseRestartsAFailingStage covers the restarts).
	time.Sleep(4 * time.Second)
	b.Close()
	stopped := time.Now()
	time.Sleep(20 * time.Second)
	startBroker(t, addr, dir)
	t.Logf("broker restarted after %v", time.Since(stopped).Round(time.Millisecond))

	var res result
	select {
	case res = <-prodDone:
	case <-ctx.Done():
		t.Fatal("the producer did not finish")
	}
	if res.err != nil || res.sum.Sent != limit {
		t.Fatalf("producer: sent %d of %d, failed %d: %v", res.sum.Sent, limit, res.sum.Failed, res.err)
	}

	// The reference is computed from what the input topic holds: exactly
	// the producer's records, once each.
	readings := inputReadings(t, ctx, s, topics.Input, limit)
	want := checkSinks(t, ctx, s, reference.FromSchemas(readings))

	// The lake: per sink partition, the Parquet files' offset spans tile
	// [0, high watermark) with no gap and no overlap.
	adm := kadm.NewClient(s.client)
	ends, err := adm.ListEndOffsets(ctx, topics.DeviceWindows, topics.StationWindows)
	if err != nil {
		t.Fatal(err)
	}
	tiled := func() string {
		filesMu.Lock()
		defer filesMu.Unlock()
		spans := map[string][][2]int64{}
		for _, f := range files {
			k := fmt.Sprintf("%s/%d", f.Topic, f.Partition)
			spans[k] = append(spans[k], [2]int64{f.First, f.Last})
		}
		var problems []string
		ends.Each(func(o kadm.ListedOffset) {
			k := fmt.Sprintf("%s/%d", o.Topic, o.Partition)
			if msg := tiles(spans[k], o.Offset); msg != "" {
				problems = append(problems, k+": "+msg)
			}
		})
		return strings.Join(problems, "; ")
	}
	waitFor(t, ctx, "the lake to hold every sink record", func() bool { return tiled() == "" || strings.Contains(tiled(), "overlap") })
	if msg := tiled(); msg != "" {
		t.Errorf("lake: %s", msg)
	}
	if st := lw.Stats(); st.Rejected != 0 {
		t.Errorf("lake-writer rejected %d records", st.Rejected)
	}
	restarts := logs.matching("stage stopped; restarting")
	t.Logf("%d readings, %d device windows; stage restarts by the supervisor: %d", len(readings), len(want), len(restarts))
}

// tiles reports how spans ([first, last] offsets) fail to cover [0, end)
// exactly once; "" when they do. A compacted or transactional topic could
// leave gaps legitimately; the sink topics have neither.
func tiles(spans [][2]int64, end int64) string {
	covered := map[int64]int{}
	for _, s := range spans {
		for o := s[0]; o <= s[1]; o++ {
			covered[o]++
		}
	}
	for o := int64(0); o < end; o++ {
		switch n := covered[o]; {
		case n == 0:
			return fmt.Sprintf("offset %d of %d missing", o, end)
		case n > 1:
			return fmt.Sprintf("offset %d in %d files (overlap)", o, n)
		}
	}
	return ""
}

// inputReadings reads n records of the input topic and decodes them.
func inputReadings(t *testing.T, ctx context.Context, s *stack, topic string, n int) []schemas.Reading {
	t.Helper()
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: s.registry, Subject: schemas.Subject(topic)}, MaxFuture: -1})
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.Reading
	for _, r := range readAll(t, ctx, s, topic, n) {
		rd, err := codec.DecodeReading(r.Value)
		if err != nil {
			t.Fatalf("input record %d/%d: %v", r.Partition, r.Offset, err)
		}
		out = append(out, rd)
	}
	if all := readFor(t, s, topic, time.Second); len(out) != n || len(all) != n {
		t.Fatalf("input topic holds %d records, the producer sent %d", max(len(out), len(all)), n)
	}
	return out
}
