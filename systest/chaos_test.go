package systest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/laketest"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// Chaos run parameters. The MTA subset is the first chaosRows rows of the
// week in file order (the file is sorted by device, so these are the whole
// weeks of the first few hundred devices); the run takes a few minutes on
// a busy 2-core machine.
const (
	chaosRows       = 15000
	chaosMembers    = 3
	chaosPartitions = 3
	chaosKills      = 12 // SIGKILLs of members and the lake-writer
	chaosTooLate    = 25 // synthetic readings older than retention
	chaosRetention  = 9 * 24 * time.Hour
)

// TestChaos is the long chaos run (make chaos). Everything runs in its
// own OS process, re-executing this test binary (TestHelperProcess): the
// embedded broker (persistent data directory), the registry, three
// pipeline members and the lake-writer. A fixed dataset is produced: the
// first 15,000 rows of the real MTA week 240106 in file order (a synthetic
// stream when the file is absent) with the producer's injections (2% held
// back 12 h as RECOVR AUD, 2% sent twice, 1% malformed in five ways), plus
// 25 readings older than retention. While it is produced, random members
// and the lake-writer are SIGKILLed 12 times at random moments and
// restarted on their local state, and the broker and the registry are each
// stopped and restarted once on the same address (the broker on its data
// directory). TURNSTILE_CHAOS_SEED reproduces a run's schedule;
// TURNSTILE_CHAOS_SYNTHETIC=1 uses the synthetic stream even when the file
// is there.
//
// At the end, with no tolerance: the sink topics (latest revision; a
// (key, revision) published twice with different contents fails) and the
// lake after datalake.Compact equal testsupport/reference over
// the accepted readings; every malformed input record is on the dead-letter
// topic exactly with the reason its kind implies, and nothing else is; the
// too-late topic holds exactly the too-old readings; and input = accepted +
// duplicates + dead-lettered + too late, counted from the topics. It prints
// one CHAOS summary line.
func TestChaos(t *testing.T) {
	skipUnlessChaos(t, "for the chaos run")
	seed := chaosSeed(t)
	t.Logf("TURNSTILE_CHAOS_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, 10))
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	began := time.Now()
	// The summary line, printed however the test ends; -1 is not measured
	// (the test stopped before).
	fig := struct {
		kills, in, accepted, dups, dlq, late    int
		devs, sts, lakeDevs, lakeSts, corrected int
		stCorrected                             int
		sinkMismatches, lakeMismatches          int
		dataset                                 string
	}{in: -1, accepted: -1, dups: -1, dlq: -1, late: -1, devs: -1, sts: -1, lakeDevs: -1, lakeSts: -1, corrected: -1, sinkMismatches: -1, lakeMismatches: -1, stCorrected: -1}
	defer func() {
		fmt.Printf("CHAOS %s: kills survived %d (members and lake-writer, SIGKILL) + broker and registry restarted once each; "+
			"records in %d (%s) = accepted %d + duplicates %d + dead-lettered %d + too late %d; "+
			"windows out: sink topics %d device (%d corrected after closing) + %d station (%d corrected), compacted lake %d + %d; mismatches: sink topics %d, lake %d; %v\n",
			map[bool]string{true: "FAIL", false: "PASS"}[t.Failed()], fig.kills, fig.in, fig.dataset, fig.accepted, fig.dups, fig.dlq, fig.late,
			fig.devs, fig.corrected, fig.sts, fig.stCorrected, fig.lakeDevs, fig.lakeSts, fig.sinkMismatches, fig.lakeMismatches, time.Since(began).Round(time.Second))
	}()

	// The services, each in its own process on a fixed address.
	brokerAddr, registryAddr := freeAddr(t), freeAddr(t)
	brokerDir := t.TempDir()
	brokers := []string{brokerAddr}
	registryURL := "http://" + registryAddr
	svc := &chaosServices{
		brokerHelper:   helper{role: "broker", env: []string{envAddr + "=" + brokerAddr, envData + "=" + brokerDir}},
		registryHelper: helper{role: "registry", env: []string{envAddr + "=" + registryAddr, envBrokers + "=" + brokerAddr}},
	}
	svc.broker = startHelper(t, "broker", svc.brokerHelper, 90*time.Second)
	svc.registry = startHelper(t, "registry", svc.registryHelper, 90*time.Second)
	describeOnFailure(t, brokers)
	createTopics(t, brokerAddr, chaosPartitions)
	s := stackOn(t, brokerAddr, registryURL)
	cl, sr := s.client, s.registry
	adm := kadm.NewClient(cl)
	topics := processors.DefaultTopics()
	inCodec := readingCodec(t, s, topics.Input, 0)

	// The dataset.
	pcfg := producer.Config{Topic: topics.Input, RegistryClient: sr, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)},
		Speed: -1, Rate: 150, Progress: producer.ProgressOff, Logger: testenv.Logger(t), Seed: int64(seed % 1000),
		LateFraction: 0.02, LateBy: 12 * time.Hour, DuplicateFraction: 0.02, BadFraction: 0.01}
	dataset := "synthetic week, 80 booths"
	rows := 0
	if path := mtaDir + "240106.csv.gz"; fileExists(path) && !chaosSynthetic {
		sub := filepath.Join(t.TempDir(), "240106-head.csv.gz")
		rows = headCSV(t, path, sub, chaosRows)
		pcfg.Source, pcfg.CSV = producer.SourceCSV, producer.CSVConfig{Path: sub, Order: producer.OrderFile}
		dataset = fmt.Sprintf("MTA 240106 first %d rows in file order", rows)
	} else {
		rows = -1 // counted from the topic only
		pcfg.Synthetic = producer.SyntheticConfig{Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Duration: 7 * 24 * time.Hour, MaxBooths: 80}
	}

	fig.dataset = dataset

	// The pipeline.
	var procs chaosProcs
	for i := range chaosMembers {
		name := fmt.Sprintf("member-%d", i+1)
		procs.add(t, name, memberHelper(brokers, registryURL, t.TempDir(), chaosPartitions, name, chaosRetention))
	}
	lakeDir := t.TempDir()
	procs.add(t, "lake", helper{role: "lake", env: []string{envBrokers + "=" + brokerAddr, envRegistry + "=" + registryURL, envData + "=" + lakeDir}})

	// Produce while the chaos runs.
	var sum producer.Summary
	prodDone := make(chan error, 1)
	go func() {
		var err error
		sum, err = producer.Run(ctx, pcfg)
		prodDone <- err
	}()
	// Too-old readings of devices of the dataset, sent once the dataset is
	// in: they are older than retention for their device's partition.
	tooLate := map[string]bool{}
	tooLateSent := make(chan struct{})

	// Every member and the lake-writer are killed the same number of
	// times, in a random order.
	var victims []string
	for len(victims) < chaosKills {
		victims = append(victims, procs.names...)
	}
	rng.Shuffle(len(victims), func(i, j int) { victims[i], victims[j] = victims[j], victims[i] })
	kills := 0
	for event := 0; kills < len(victims); event++ {
		select {
		case <-ctx.Done():
			t.Fatalf("chaos: %v after %d kills", ctx.Err(), kills)
		case <-time.After(time.Duration(2000+rng.IntN(5000)) * time.Millisecond):
		}
		switch {
		case event == 4:
			svc.restart(t, "broker", &svc.broker, svc.brokerHelper)
			continue
		case event == 9:
			svc.restart(t, "registry", &svc.registry, svc.registryHelper)
			continue
		}
		name := victims[kills]
		procs.kill(t, name)
		kills++
		time.Sleep(time.Duration(rng.IntN(2500)) * time.Millisecond)
		procs.restart(t, name)
		fig.kills = kills
		t.Logf("%v: kill %d: %s SIGKILLed and restarted", time.Since(began).Round(100*time.Millisecond), kills, name)
		select {
		case err := <-prodDone:
			if err != nil {
				t.Fatalf("producer: %v", err)
			}
			prodDone = nil
			sendTooLate(t, ctx, brokers, cl, inCodec, sum, topics.Input, tooLate)
			close(tooLateSent)
		default:
		}
	}
	if prodDone != nil {
		if err := <-prodDone; err != nil {
			t.Fatalf("producer: %v", err)
		}
		sendTooLate(t, ctx, brokers, cl, inCodec, sum, topics.Input, tooLate)
		close(tooLateSent)
	}
	<-tooLateSent
	t.Logf("%v: chaos over (%d kills, broker and registry restarted); producer sent %d records %v",
		time.Since(began).Round(100*time.Millisecond), kills, sum.Sent, sum.Injected)
	procs.checkAlive(t)

	// What went in, read back from the input topic.
	in := readInput(t, ctx, brokers, adm, topics.Input, inCodec)
	fig.in = in.records
	if want := sum.Sent + int64(len(tooLate)); int64(in.records) != want {
		t.Errorf("input topic holds %d records, the producer sent %d and %d too-old readings", in.records, sum.Sent, len(tooLate))
	}
	if int64(len(in.bad)) != badInjected(sum) || rows >= 0 && int64(in.records-len(in.bad)) != int64(rows)+sum.Injected[producer.InjectDuplicate]+int64(len(tooLate)) {
		t.Errorf("input: %d records, %d malformed; the dataset has %d rows, %d duplicates, %d malformed, %d too old",
			in.records, len(in.bad), rows, sum.Injected[producer.InjectDuplicate], badInjected(sum), len(tooLate))
	}

	// The sink topics converge to the reference over the accepted readings.
	// (No replay here: every window is generation 0, so the latest
	// revision is the latest version.)
	late := newLateSet(t, s, topics.Late)
	var want map[reference.DeviceKey]reference.Row
	devs := waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
		late.poll(t)
		want = reference.Devices(refParams, reference.FromSchemas(late.accepted(in.good)))
		return reference.DiffDevices(m, want)
	})
	wantSt := reference.StationsOf(want, reference.FromSchemas(in.good))
	sts := waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string { return reference.DiffStations(m, wantSt) })
	fig.devs, fig.sts = len(devs), len(sts)
	// In file order nearly every reading is late (the file is sorted by
	// device), so any window may be revised: the counts are logged and
	// printed, not bounded (TestBacklogPublishesOnce and the MTA weeks in
	// event order bound them).
	fig.corrected, fig.stCorrected = testenv.CheckRevisions(t, ctx, s.sinks(), nil, nil)
	fig.sinkMismatches = deviceMismatches(devs, want) + stationMismatches(sts, wantSt)
	t.Logf("%v: sink topics equal the reference: %d device and %d station windows", time.Since(began).Round(100*time.Millisecond), len(devs), len(sts))

	// Too late: exactly the too-old readings (the rest of the data spans
	// less than retention).
	late.poll(t)
	for id := range late.ids {
		if !tooLate[id] {
			t.Errorf("reading %s is on the too-late topic but is within retention", id)
		}
	}
	for id := range tooLate {
		if !late.ids[id] {
			t.Errorf("too-old reading %s is not on the too-late topic", id)
		}
	}

	// Dead letters: every malformed record, with its reason, and nothing
	// else.
	dlq := readDLQ(t, ctx, brokers, adm, topics.DeadLetters, in.bad)

	// The lake: once the lake-writer has committed everything on the sink
	// topics, stop it, compact, and compare.
	waitCommitted(t, ctx, adm, datalake.DefaultGroup, topics.DeviceWindows, topics.StationWindows)
	procs.terminate(t, "lake")
	store, err := datalake.Open(ctx, lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := datalake.Compact(ctx, datalake.CompactConfig{Store: store}); err != nil {
		t.Fatal(err)
	}
	lakeDevs, lakeSts := laketest.Compacted(t, lakeDir)
	fig.lakeDevs, fig.lakeSts = len(lakeDevs), len(lakeSts)
	fig.lakeMismatches = deviceMismatches(lakeDevs, want) + stationMismatches(lakeSts, wantSt)
	if d := reference.DiffDevices(lakeDevs, want); d != "" {
		t.Errorf("compacted lake, device windows:\n%s", d)
	}
	if d := reference.DiffStations(lakeSts, wantSt); d != "" {
		t.Errorf("compacted lake, station windows:\n%s", d)
	}

	// Accounting: input = accepted + duplicates + dead-lettered + too late.
	distinct := map[[2]string]bool{}
	for _, r := range in.good {
		distinct[[2]string{r.DeviceKey(), r.ID}] = true
	}
	dups := len(in.good) - len(distinct)
	acceptedN := len(distinct) - len(late.ids)
	if acc := acceptedN + dups + dlq + len(late.ids); acc != in.records {
		t.Errorf("input %d != accepted %d + duplicates %d + dead-lettered %d + too late %d = %d",
			in.records, acceptedN, dups, dlq, len(late.ids), acc)
	}
	fig.accepted, fig.dups, fig.dlq, fig.late = acceptedN, dups, dlq, len(late.ids)
	procs.checkAlive(t)
}

// chaosServices are the broker and registry processes.
type chaosServices struct {
	broker, registry             *child
	brokerHelper, registryHelper helper
}

// restart stops a service cleanly (SIGTERM) and starts it again on the
// same address and data.
func (s *chaosServices) restart(t *testing.T, role string, c **child, h helper) {
	t.Helper()
	at := time.Now()
	(*c).terminate(t, 60*time.Second)
	*c = startHelper(t, role, h, 90*time.Second)
	t.Logf("%s restarted (down %v)", role, time.Since(at).Round(100*time.Millisecond))
}

// chaosProcs are the members and the lake-writer, by name.
type chaosProcs struct {
	names   []string
	helpers map[string]helper
	procs   map[string]*child
}

func (p *chaosProcs) add(t *testing.T, name string, h helper) {
	if p.procs == nil {
		p.helpers, p.procs = map[string]helper{}, map[string]*child{}
	}
	p.names = append(p.names, name)
	p.helpers[name] = h
	p.procs[name] = startHelper(t, name, h, 90*time.Second)
}

func (p *chaosProcs) kill(t *testing.T, name string) {
	t.Helper()
	select {
	case <-p.procs[name].done:
		t.Errorf("%s had exited by itself (%v) before it was to be killed", name, p.procs[name].cmd.ProcessState)
	default:
	}
	p.procs[name].kill()
}

func (p *chaosProcs) restart(t *testing.T, name string) {
	t.Helper()
	p.procs[name] = startHelper(t, name, p.helpers[name], 90*time.Second)
}

func (p *chaosProcs) terminate(t *testing.T, name string) {
	t.Helper()
	p.procs[name].terminate(t, 60*time.Second)
}

// checkAlive fails the test for a member or lake-writer that exited by
// itself (an error it did not survive).
func (p *chaosProcs) checkAlive(t *testing.T) {
	t.Helper()
	for _, name := range p.names {
		c := p.procs[name]
		select {
		case <-c.done:
			if name != "lake" || c.cmd.ProcessState.ExitCode() != 0 {
				t.Errorf("%s exited by itself: %v", name, c.cmd.ProcessState)
			}
		default:
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// headCSV writes the header and the first n rows of the gzipped CSV src to
// dst (gzipped) and returns the number of rows written.
func headCSV(t *testing.T, src, dst string, n int) int {
	t.Helper()
	gz := openGzip(t, src)
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	sc := bufio.NewScanner(gz)
	rows := -1 // the header
	for sc.Scan() && rows < n {
		fmt.Fprintln(w, sc.Text())
		rows++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return rows
}

func badInjected(sum producer.Summary) int64 {
	var n int64
	for k, v := range sum.Injected {
		if k.IsBad() {
			n += v
		}
	}
	return n
}

// sendTooLate produces chaosTooLate readings of devices of the dataset, 30
// days before the dataset's first event time: older than retention for any
// partition that has seen the dataset. Their IDs go into ids.
func sendTooLate(t *testing.T, ctx context.Context, brokers []string, cl *kgo.Client, codec *codecs.ReadingCodec, sum producer.Summary, topic string, ids map[string]bool) {
	t.Helper()
	// Devices from the input topic's first records: read a few back.
	rd, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var devices []schemas.Reading
	seen := map[string]bool{}
	for len(devices) < chaosTooLate {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("too-late readings: no devices to send them for")
		}
		fs.EachRecord(func(r *kgo.Record) {
			v, err := codec.DecodeReading(r.Value)
			if err != nil || seen[v.DeviceKey()] || len(devices) >= chaosTooLate {
				return
			}
			seen[v.DeviceKey()] = true
			devices = append(devices, v)
		})
	}
	old := sum.FirstEvent.Add(-30 * 24 * time.Hour)
	for i, d := range devices {
		r := d
		r.ID = fmt.Sprintf("chaos-too-old-%d", i)
		r.Desc = "RECOVR AUD"
		r.Entries, r.Exits = 1, 1
		r.SetTimes(old.Add(time.Duration(i) * time.Minute))
		r.EventTime = old.Add(time.Duration(i) * time.Minute) // v2: EVENT_TIME is the event time
		var v []byte
		for v, err = codec.EncodeReading(&r); err != nil; v, err = codec.EncodeReading(&r) {
			if !codecs.IsRetryable(err) || ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // the registry is restarting
		}
		ids[r.ID] = true
		cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(r.ID), Value: v}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

type chaosInput struct {
	records int
	good    []schemas.Reading        // decoded, in topic order (duplicates included)
	bad     map[string]codecs.Reason // partition/offset -> the reason its injection implies
}

// readInput reads the whole input topic: the producer's injected header
// names the malformed records and what their dead letter must say; every
// other record must decode.
func readInput(t *testing.T, ctx context.Context, brokers []string, adm *kadm.Client, topic string, codec *codecs.ReadingCodec) chaosInput {
	t.Helper()
	wantReason := map[producer.Injection]codecs.Reason{
		producer.BadMagicByte: codecs.ReasonMagicByte, producer.BadTruncated: codecs.ReasonTruncated,
		producer.BadNegativeCounter: codecs.ReasonInvalidField, producer.BadTimestamp: codecs.ReasonInvalidField,
		producer.BadEmptyDevice: codecs.ReasonInvalidField,
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	in := chaosInput{bad: map[string]codecs.Reason{}}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for in.records < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("input: read %d of %d records", in.records, total)
		}
		fs.EachRecord(func(r *kgo.Record) {
			in.records++
			var inj producer.Injection
			for _, h := range r.Headers {
				if h.Key == producer.InjectedHeader {
					inj = producer.Injection(h.Value)
				}
			}
			if inj.IsBad() {
				in.bad[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = wantReason[inj]
				return
			}
			v, err := codec.DecodeReading(r.Value)
			if err != nil {
				t.Fatalf("input %d/%d (%s): %v", r.Partition, r.Offset, inj, err)
			}
			in.good = append(in.good, v)
		})
	}
	return in
}

// readDLQ waits until the dead-letter topic holds every malformed input
// record (by source partition and offset; a redelivery after a kill may
// dead-letter one twice), checks each reason, and returns how many distinct
// input records it holds.
func readDLQ(t *testing.T, ctx context.Context, brokers []string, adm *kadm.Client, topic string, bad map[string]codecs.Reason) int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]bool{}
	for len(got) < len(bad) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead letters: %d of %d malformed records", len(got), len(bad))
		}
		fs.EachRecord(func(r *kgo.Record) {
			h := headers(r)
			src := deadLetterSource(h)
			want, ok := bad[src]
			switch {
			case !ok:
				t.Errorf("dead letter from %s, which is not a malformed record (reason %s: %s)", src, h[processors.HeaderReason], h[processors.HeaderDetail])
			case h[processors.HeaderReason] != string(want):
				t.Errorf("dead letter from %s: reason %q (%s), want %q", src, h[processors.HeaderReason], h[processors.HeaderDetail], want)
			}
			got[src] = true
		})
	}
	// Nothing more arrives after the last one.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) { n += int(o.Offset) })
	t.Logf("dead-letter topic: %d records for %d malformed input records", n, len(got))
	return len(got)
}

// deviceMismatches counts the device windows missing from got, different
// in got, or in got without being in want.
func deviceMismatches(got map[string]schemas.DeviceWindow, want map[reference.DeviceKey]reference.Row) int {
	n, found := 0, 0
	for k, w := range want {
		g, ok := got[k.SinkKey()]
		if ok {
			found++
		}
		if !ok || g.Entries != w.Entries || g.Exits != w.Exits || g.Desc != w.Desc {
			n++
		}
	}
	return n + len(got) - found
}

// stationMismatches is deviceMismatches for station windows.
func stationMismatches(got map[string]schemas.StationWindow, want map[reference.StationKey]reference.Row) int {
	n, found := 0, 0
	for k, w := range want {
		g, ok := got[k.SinkKey()]
		if ok {
			found++
		}
		if !ok || g.Entries != w.Entries || g.Exits != w.Exits || int(g.Devices) != w.Devices {
			n++
		}
	}
	return n + len(got) - found
}
