package datalake

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
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
func runWriter(t *testing.T, cfg Config) (*Writer, func() error) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
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

func TestWriterEndToEnd(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	store, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
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
		r := NewStationRow(&w)
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

// TestWriterFlushesOnCancel: nothing reaches a flush threshold; cancelling
// the context writes and commits everything buffered.
func TestWriterFlushesOnCancel(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wl := genWorkload(2, 6, 2)
	s.produce(t, ctx, wl, 0)
	hw := s.highWatermarks(t, ctx)
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
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	wl := genWorkload(3, 6, 2)
	s.produce(t, ctx, wl, 0)
	hw := s.highWatermarks(t, ctx)
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
