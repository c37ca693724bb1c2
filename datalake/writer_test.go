package datalake

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"gocloud.dev/blob/memblob"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// runWriter runs a Writer in the background; the returned stop cancels it
// and returns Run's error.
func runWriter(t *testing.T, cfg Config, setup ...func(*Writer)) (*Writer, func() error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(60 * time.Second):
				runErr = fmt.Errorf("Run did not return")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return w, stop
}

// TestWriterEndToEnd runs the writer on each kind of lake (a directory, S3,
// Cloud Storage): every record in exactly one file, restarts and another
// group resuming at the lake's checkpoints, compaction to one row per
// window.
func TestWriterEndToEnd(t *testing.T) {
	for _, kind := range lakeKinds {
		t.Run(kind.name, func(t *testing.T) { testWriterEndToEnd(t, kind) })
	}
}

func testWriterEndToEnd(t *testing.T, kind storeKind) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	store, _ := openKind(t, kind)
	wl := genWorkload(1, 12, 8)
	const bad = 2
	s.produce(t, ctx, wl, bad)
	hw := s.highWatermarks(t, ctx)

	var mu sync.Mutex
	var events []FileEvent
	cfg := s.config(store)
	cfg.OnFile = func(e FileEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
	w, stop := runWriter(t, cfg)
	waitCaughtUp(t, ctx, store, hw)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	st := w.Stats()
	total := int64(len(wl.devices) + len(wl.stations) + 2*bad)
	if st.Records != total || st.Rejected != 2*bad || st.Rows != 2*int64(len(wl.devices)+len(wl.stations)) {
		t.Errorf("stats %+v, want %d records, %d rejected, %d rows (two formats)", st, total, 2*bad, 2*(len(wl.devices)+len(wl.stations)))
	}
	var dataEvents, rows int64
	for _, e := range events {
		if baseDir(e.Key) != rejectedDir {
			dataEvents++
			rows += int64(e.Rows)
		}
	}
	if dataEvents != st.Files || rows != st.Rows || st.Batches < 5 {
		t.Errorf("%d data file events with %d rows for %+v", dataEvents, rows, st)
	}

	lc := readLake(t, ctx, store)
	checkSpans(t, lc, hw)
	checkVersions(t, lc, wl)
	noneStaged(t, store)
	if lc.csvRows[DeviceWindows] != len(wl.devices) || lc.csvRows[StationWindows] != len(wl.stations) {
		t.Errorf("CSV rows %v, want %d devices and %d stations", lc.csvRows, len(wl.devices), len(wl.stations))
	}
	checkRejected(t, ctx, store, bad)
	checkGroupOffsets(t, ctx, s, DefaultGroup, hw)

	// A restart of the same group resumes at the checkpoints, and so does
	// another group on the same lake: the files, not the group, say what
	// is in the lake.
	for _, group := range []string{DefaultGroup, "another-group"} {
		more := genWorkload(uint64(len(group)), 3, 1)
		s.produce(t, ctx, more, 0)
		wl.devices = append(wl.devices, more.devices...)
		wl.stations = append(wl.stations, more.stations...)
		hw = s.highWatermarks(t, ctx)
		cfg := s.config(store)
		cfg.Group = group
		_, stop := runWriter(t, cfg)
		waitCaughtUp(t, ctx, store, hw)
		if err := stop(); err != nil {
			t.Fatalf("Run (%s): %v", group, err)
		}
		lc = readLake(t, ctx, store)
		checkSpans(t, lc, hw)
		checkVersions(t, lc, wl)
		checkZone(t, lc, schemas.DefaultLocation()) // the writer's default
	}

	// Compaction leaves one row per window, the newest.
	if _, err := Compact(ctx, CompactConfig{Store: store}); err != nil {
		t.Fatal(err)
	}
	lc = readLake(t, ctx, store)
	checkCompacted(t, lc, wl)
}

// checkVersions: every emitted (window, generation, revision) is in the
// Parquet files exactly once, and nothing else is.
func checkVersions(t *testing.T, lc lakeContent, wl workload) {
	t.Helper()
	want := map[string]int{}
	for _, w := range wl.devices {
		r := NewDeviceRow(&w)
		want[fmt.Sprintf("%s@%d.%d", r.windowKey(), r.Generation, r.Revision)]++
	}
	got := deviceVersions(lc.devices)
	diffCounts(t, "device versions", got, want)
	want = map[string]int{}
	for _, w := range wl.stations {
		r := NewStationRow(&w, nil) // the window key: START
		want[fmt.Sprintf("%s@%d.%d", r.windowKey(), r.Generation, r.Revision)]++
	}
	diffCounts(t, "station versions", stationVersions(lc.stations), want)
}

func diffCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	n := 0
	for k, w := range want {
		if got[k] != w {
			if n++; n <= 5 {
				t.Errorf("%s: %s appears %d times, want %d", what, k, got[k], w)
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if n++; n <= 5 {
				t.Errorf("%s: unexpected %s (%d times)", what, k, g)
			}
		}
	}
	if n > 5 {
		t.Errorf("%s: %d differences in all", what, n)
	}
}

func checkCompacted(t *testing.T, lc lakeContent, wl workload) {
	t.Helper()
	dev := wl.deviceTotals()
	got := rowTotals[DeviceRow](lc.devices, func(r *DeviceRow) int64 { return r.Entries }, func(r *DeviceRow) int64 { return r.Exits })
	if got != dev || len(lc.devices) != dev.Windows || lc.csvRows[DeviceWindows] != dev.Windows {
		t.Errorf("compacted devices: %d parquet rows, %d CSV rows, totals %+v; want one row per window, %+v", len(lc.devices), lc.csvRows[DeviceWindows], got, dev)
	}
	st := wl.stationTotals()
	gotSt := rowTotals[StationRow](lc.stations, func(r *StationRow) int64 { return r.Entries }, func(r *StationRow) int64 { return r.Exits })
	if gotSt != st || len(lc.stations) != st.Windows || lc.csvRows[StationWindows] != st.Windows {
		t.Errorf("compacted stations: %d parquet rows, %d CSV rows, totals %+v; want %+v", len(lc.stations), lc.csvRows[StationWindows], gotSt, st)
	}
}

func checkRejected(t *testing.T, ctx context.Context, store *Store, bad int) {
	t.Helper()
	for _, ds := range Datasets() {
		n := 0
		for _, k := range keys(t, store, string(ds)+"/"+rejectedDir+"/") {
			data, err := store.read(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for sc.Scan() {
				n++
			}
		}
		if n != bad {
			t.Errorf("%s: %d rejected records, want %d", ds, n, bad)
		}
	}
}

func checkGroupOffsets(t *testing.T, ctx context.Context, s *stack, group string, hw map[string]map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for topic, parts := range hw {
		for p, end := range parts {
			o, ok := offs.Lookup(topic, p)
			if end > 0 && (!ok || o.At != end) {
				t.Errorf("group %s offset of %s/%d = %d, want %d", group, topic, p, o.At, end)
			}
		}
	}
}

// preloaded starts a stack with workload seed (six devices, two windows
// each) on the sink topics and opens an empty local lake: what a small
// writer test needs, with the topics' high watermarks.
func preloaded(t *testing.T, ctx context.Context, seed uint64) (*stack, *Store, workload, map[string]map[int32]int64) {
	t.Helper()
	s := newStack(t)
	store, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wl := genWorkload(seed, 6, 2)
	s.produce(t, ctx, wl, 0)
	return s, store, wl, s.highWatermarks(t, ctx)
}

// TestWriterFlushesOnCancel: nothing reaches a flush threshold; cancelling
// the context writes and commits everything buffered.
func TestWriterFlushesOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, store, wl, hw := preloaded(t, ctx, 2)
	cfg := s.config(store)
	cfg.FlushInterval, cfg.FlushRecords = time.Hour, 1_000_000
	w, stop := runWriter(t, cfg)
	for w.Stats().Records < int64(len(wl.devices)+len(wl.stations)) {
		if ctx.Err() != nil {
			t.Fatalf("consumed %d records", w.Stats().Records)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(keys(t, store, "")); n != 0 {
		t.Fatalf("%d files before any flush threshold", n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	lc := readLake(t, ctx, store)
	checkSpans(t, lc, hw)
	checkVersions(t, lc, wl)
	checkGroupOffsets(t, ctx, s, DefaultGroup, hw)
	if st := w.Stats(); st.Batches != 5 { // 3 device + 2 station partitions
		t.Errorf("stats %+v, want one batch per partition", st)
	}
}

// gate is a Pacer that holds the writer until it is opened.
type gate struct {
	open  chan struct{}
	calls atomic.Int32
}

func (g *gate) Wait(ctx context.Context) {
	g.calls.Add(1)
	select {
	case <-g.open:
	case <-ctx.Done():
	}
}

// TestWriterWaitsForPacer: a writer held by its Pacer consumes nothing;
// once let go it writes every record, and it asks the Pacer before every
// poll.
func TestWriterWaitsForPacer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, store, wl, hw := preloaded(t, ctx, 4)
	g := &gate{open: make(chan struct{})}
	cfg := s.config(store)
	cfg.Pacer = g
	w, stop := runWriter(t, cfg)
	for g.calls.Load() == 0 {
		if ctx.Err() != nil {
			t.Fatal("Run never asked its Pacer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := w.Stats(); st.Records != 0 {
		t.Fatalf("held by its Pacer, the writer consumed %d records", st.Records)
	}
	close(g.open)
	waitCaughtUp(t, ctx, store, hw)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := g.calls.Load(); n < 2 {
		t.Errorf("the Pacer was asked %d times, want once before every poll", n)
	}
	lc := readLake(t, ctx, store)
	checkSpans(t, lc, hw)
	checkVersions(t, lc, wl)
}

// flaky fails its first calls as if the registry were down.
type flakyDevices struct {
	inner DeviceDecoder
	fails atomic.Int32
}

func (f *flakyDevices) Unmarshal(b []byte) (schemas.DeviceWindow, error) {
	if f.fails.Add(-1) >= 0 {
		return schemas.DeviceWindow{}, fmt.Errorf("GET /schemas/ids/1: connection refused: %w", codecs.ErrRegistryUnavailable)
	}
	return f.inner.Unmarshal(b)
}

// TestWriterWaitsForRegistry: while the registry is unreachable, records
// are retried, not rejected.
func TestWriterWaitsForRegistry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, store, wl, hw := preloaded(t, ctx, 3)
	flaky := &flakyDevices{inner: s.dev}
	flaky.fails.Store(5)
	cfg := s.config(store)
	cfg.DeviceDecoder = flaky
	w, stop := runWriter(t, cfg)
	waitCaughtUp(t, ctx, store, hw)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Rejected != 0 || flaky.fails.Load() >= 0 {
		t.Errorf("stats %+v, failures left %d", st, flaky.fails.Load())
	}
	lc := readLake(t, ctx, store)
	checkSpans(t, lc, hw)
	checkVersions(t, lc, wl)
}

func TestNewValidates(t *testing.T) {
	s := &Store{}
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no store", Config{Registry: nil}},
		{"no formats", Config{Store: s, Format: Format{NoCSV: true, NoParquet: true}}},
		{"same topics", Config{Store: s, DeviceTopic: "x", StationTopic: "x"}},
		{"no registry", Config{Store: s}},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
}

// TestWriterRebalance runs two members of the group over one memblob
// bucket: the second member's arrival revokes partitions from the first,
// which flushes them; the second member resumes from their checkpoints.
// Every record still lands in exactly one file.
func TestWriterRebalance(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	store := NewBucketStore(bucket)

	wl := genWorkload(21, 12, 4)
	s.produce(t, ctx, wl, 0)
	cfg := s.config(store)
	cfg.FlushInterval, cfg.FlushRecords = time.Hour, 1_000_000 // only revocation and shutdown flush
	cfg.KafkaOpts = append(cfg.KafkaOpts, kgo.HeartbeatInterval(200*time.Millisecond))
	a, stopA := runWriter(t, cfg)
	for a.Stats().Records < int64(len(wl.devices)+len(wl.stations)) {
		if ctx.Err() != nil {
			t.Fatal("member A did not consume the workload")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(keys(t, store, "")); n != 0 {
		t.Fatalf("%d files before any flush", n)
	}

	more := genWorkload(22, 9, 2)
	wl.devices = append(wl.devices, more.devices...)
	wl.stations = append(wl.stations, more.stations...)
	cfgB := cfg
	cfgB.FlushInterval, cfgB.FlushRecords = 200*time.Millisecond, 40
	b, stopB := runWriter(t, cfgB)
	// The join revokes some of A's partitions: A flushes them.
	for a.Stats().Batches == 0 {
		if ctx.Err() != nil {
			t.Fatal("member A never flushed on revocation")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.produce(t, ctx, more, 0)
	hw := s.highWatermarks(t, ctx)
	// B writes what it owns as it goes; stopping A writes the rest and
	// hands its partitions to B.
	time.Sleep(time.Second)
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, ctx, store, hw)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if a.Stats().Batches == 0 || b.Stats().Batches == 0 {
		t.Errorf("batches: A %+v, B %+v; want both to have written", a.Stats(), b.Stats())
	}
	lc := readLake(t, ctx, store)
	checkSpans(t, lc, hw)
	checkVersions(t, lc, wl)
}

// TestObjectStoresMatchLocalLake: lake-writers of three groups read the same
// topics into a directory, an S3 bucket and a Cloud Storage bucket, each in
// one batch per partition (one flush, at the end): the buckets then hold
// the directory's keys with its bytes, before and after compaction, and
// nothing staged.
func TestObjectStoresMatchLocalLake(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	wl := genWorkload(11, 12, 6)
	const bad = 2
	s.produce(t, ctx, wl, bad)
	total := int64(len(wl.devices) + len(wl.stations) + 2*bad)

	stores := make([]*Store, len(lakeKinds))
	writers := make([]*Writer, len(lakeKinds))
	stops := make([]func() error, len(lakeKinds))
	for i, kind := range lakeKinds {
		stores[i], _ = openKind(t, kind)
		cfg := s.config(stores[i])
		cfg.Group = "lake-" + kind.name
		cfg.FlushInterval, cfg.FlushRecords, cfg.FlushBytes = time.Hour, 1_000_000, 1<<40
		writers[i], stops[i] = runWriter(t, cfg)
	}
	for i, w := range writers {
		for w.Stats().Records < total {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: %d of %d records consumed", lakeKinds[i].name, w.Stats().Records, total)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	for i, stop := range stops {
		if err := stop(); err != nil {
			t.Fatalf("%s: Run: %v", lakeKinds[i].name, err)
		}
		if st := writers[i].Stats(); st.Batches != 5 { // 3 device and 2 station partitions
			t.Errorf("%s: %d batches, want one per partition", lakeKinds[i].name, st.Batches)
		}
	}

	want := snapshot(t, stores[0])
	lc := readLake(t, ctx, stores[0])
	checkSpans(t, lc, s.highWatermarks(t, ctx))
	checkVersions(t, lc, wl)
	t.Logf("%d keys, %d data files", len(want), lc.files)
	for _, st := range stores {
		noneStaged(t, st)
	}
	wantCPs := checkpointsOf(t, ctx, stores[0])
	for i := 1; i < len(stores); i++ {
		sameSnapshot(t, lakeKinds[i].name, snapshot(t, stores[i]), want)
		if got := checkpointsOf(t, ctx, stores[i]); !reflect.DeepEqual(got, wantCPs) {
			t.Errorf("%s: checkpoints %+v, want %+v", lakeKinds[i].name, got, wantCPs)
		}
	}
	for _, st := range stores {
		if _, err := Compact(ctx, CompactConfig{Store: st}); err != nil {
			t.Fatal(err)
		}
	}
	want = snapshot(t, stores[0])
	checkCompacted(t, readLake(t, ctx, stores[0]), wl)
	for i := 1; i < len(stores); i++ {
		sameSnapshot(t, lakeKinds[i].name+" compacted", snapshot(t, stores[i]), want)
	}
}

// checkpointsOf returns every checkpoint of the lake without its time.
func checkpointsOf(t *testing.T, ctx context.Context, s *Store) []checkpoint {
	t.Helper()
	var out []checkpoint
	for _, ds := range Datasets() {
		for _, k := range keys(t, s, string(ds)+"/"+checkpointDir+"/") {
			data, err := s.read(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			var cp checkpoint
			if err := json.Unmarshal(data, &cp); err != nil {
				t.Fatal(err)
			}
			cp.Written = time.Time{}
			out = append(out, cp)
		}
	}
	return out
}

// noneStaged fails the test if a staged file is left in the lake.
func noneStaged(t *testing.T, s *Store) {
	t.Helper()
	for _, ds := range Datasets() {
		if left := keys(t, s, string(ds)+"/"+stagingDir+"/"); len(left) > 0 {
			t.Errorf("staged files left: %v", left)
		}
	}
}

// TestWriterRetriesPublish: publishing fails after a batch's checkpoint
// (the store refuses mid-batch): the batch stays committed, the retry
// publishes its staged files without writing them again, and every file is
// announced once; on each kind of lake.
func TestWriterRetriesPublish(t *testing.T) {
	for _, kind := range lakeKinds {
		t.Run(kind.name, func(t *testing.T) {
			s := newStack(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			store, _ := openKind(t, kind)
			wl := genWorkload(3, 9, 4)
			s.produce(t, ctx, wl, 1)
			hw := s.highWatermarks(t, ctx)

			var mu sync.Mutex
			announced := map[string]int{}
			var publishes, failed atomic.Int32
			cfg := s.config(store)
			cfg.OnFile = func(e FileEvent) { mu.Lock(); announced[e.Key]++; mu.Unlock() }
			w, stop := runWriter(t, cfg, func(w *Writer) {
				w.hooks.beforePublish = func(string, int32, string) error {
					if publishes.Add(1) == 4 { // the second file of a batch, or the first of another
						failed.Add(1)
						return errors.New("the store refused")
					}
					return nil
				}
			})
			waitCaughtUp(t, ctx, store, hw)
			for {
				lc := readLake(t, ctx, store)
				if len(lc.spans[string(DeviceWindows)+ExtParquet])+len(lc.spans[string(StationWindows)+ExtParquet]) > 0 && len(keys(t, store, string(DeviceWindows)+"/"+stagingDir+"/"))+len(keys(t, store, string(StationWindows)+"/"+stagingDir+"/")) == 0 {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatal("the staged files of the failed publish were never published")
				case <-time.After(100 * time.Millisecond):
				}
			}
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if failed.Load() != 1 {
				t.Fatalf("%d publishes failed, want 1", failed.Load())
			}
			lc := readLake(t, ctx, store)
			checkSpans(t, lc, hw)
			checkVersions(t, lc, wl)
			noneStaged(t, store)
			checkGroupOffsets(t, ctx, s, DefaultGroup, hw)
			files := 0
			for _, ds := range Datasets() {
				for _, k := range keys(t, store, string(ds)+"/") {
					if _, dir, _ := splitKey(k); dir == checkpointDir {
						continue
					}
					files++
					if announced[k] != 1 {
						t.Errorf("%s announced %d times", k, announced[k])
					}
				}
			}
			if len(announced) != files {
				t.Errorf("%d files announced, %d in the lake", len(announced), files)
			}
			if st := w.Stats(); st.Files != int64(lc.files) {
				t.Errorf("stats count %d files, the lake has %d", st.Files, lc.files)
			}
		})
	}
}
