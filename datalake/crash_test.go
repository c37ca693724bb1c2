package datalake

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// helperEnv selects the child-process mode of the test binary: it runs a
// lake-writer configured from the environment (see TestLakeWriterHelper).
const helperEnv = "TURNSTILE_LAKE_HELPER"

// crashMarker is what the child prints when it reaches its crash point,
// after which it blocks until the parent kills it.
const crashMarker = "LAKE-CRASHPOINT"

// TestLakeWriterHelper is the child process, not a test: with
// TURNSTILE_LAKE_HELPER=1 it runs a Writer against LAKE_BROKERS and
// LAKE_REGISTRY into LAKE_DIR (a directory or a URL; the object stores'
// environment is inherited) until SIGTERM. With LAKE_CRASH_AT=data it
// stops forever inside the LAKE_CRASH_AFTER+1-th batch, after the batch's
// staged files and before its checkpoint; with LAKE_CRASH_AT=publish
// before publishing the LAKE_CRASH_AFTER+1-th Parquet file, after its
// batch's checkpoint and its CSV file; with LAKE_CRASH_AT=checkpoint after
// the LAKE_CRASH_AFTER-th flush's files, before the Kafka commit.
func TestLakeWriterHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("child process of TestWriterSurvivesSIGKILL")
	}
	os.Exit(lakeWriterChild())
}

func lakeWriterChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "child:", err); return 1 }
	store, err := Open(ctx, os.Getenv("LAKE_DIR"))
	if err != nil {
		return fail(err)
	}
	flushRecords, _ := strconv.Atoi(os.Getenv("LAKE_FLUSH_RECORDS"))
	crashAfter, _ := strconv.Atoi(os.Getenv("LAKE_CRASH_AFTER"))
	w, err := New(Config{
		KafkaOpts: []kgo.Opt{
			kgo.SeedBrokers(strings.Split(os.Getenv("LAKE_BROKERS"), ",")...),
			// Short, so that the restart after a SIGKILL does not wait
			// long for the dead member to leave the group.
			kgo.SessionTimeout(2 * time.Second), kgo.HeartbeatInterval(300 * time.Millisecond),
		},
		Registry:      srclient.CreateSchemaRegistryClient(os.Getenv("LAKE_REGISTRY")),
		Store:         store,
		FlushInterval: 200 * time.Millisecond,
		FlushRecords:  flushRecords,
		Parallelism:   2,
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return fail(err)
	}
	hang := func() {
		fmt.Println(crashMarker)
		_ = os.Stdout.Sync()
		select {} // until SIGKILL
	}
	var batches, parquets, flushes atomic.Int32
	switch os.Getenv("LAKE_CRASH_AT") {
	case "data":
		w.hooks.afterData = func(string, int32) error {
			if int(batches.Add(1)) > crashAfter {
				hang()
			}
			return nil
		}
	case "publish":
		w.hooks.beforePublish = func(_ string, _ int32, key string) error {
			if strings.HasSuffix(key, ExtParquet) && int(parquets.Add(1)) > crashAfter {
				hang()
			}
			return nil
		}
	case "checkpoint":
		w.hooks.afterCheckpoint = func() {
			if int(flushes.Add(1)) >= crashAfter {
				hang()
			}
		}
	}
	if err := w.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

type child struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	marker chan struct{}
	done   chan error
}

func startChild(t *testing.T, s *stack, dir string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLakeWriterHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "LAKE_DIR="+dir, "LAKE_BROKERS="+strings.Join(s.brokers, ","), "LAKE_REGISTRY="+s.registry)
	cmd.Env = append(cmd.Env, env...)
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}, marker: make(chan struct{}), done: make(chan error, 1)}
	var mu sync.Mutex
	cmd.Stderr = lockedWriter{&mu, c.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == crashMarker {
				close(c.marker)
			}
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			mu.Lock()
			t.Logf("child stderr:\n%s", c.stderr.String())
			mu.Unlock()
		}
	})
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestWriterSurvivesSIGKILL kills a lake-writer process with SIGKILL, on a
// directory, an S3 bucket and a Cloud Storage bucket: between staging a
// batch's files and its checkpoint (data), between the checkpoint and
// publishing all its files (publish), and between publishing and the group
// commit (checkpoint). What readers see of the lake after the kill is
// committed data only, each file whole, no record twice. Then it produces
// more and restarts the writer with other flush boundaries: every record
// is in exactly one file, nothing is left staged, and after compaction
// every window is there once.
func TestWriterSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, kind := range lakeKinds {
		for _, crashAt := range []string{"data", "publish", "checkpoint"} {
			t.Run(kind.name+"/"+crashAt, func(t *testing.T) { testSIGKILL(t, kind, crashAt) })
		}
	}
}

func testSIGKILL(t *testing.T, kind storeKind, crashAt string) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	store, lake := openKind(t, kind)
	wl := genWorkload(5, 15, 8)
	s.produce(t, ctx, wl, 1)

	c := startChild(t, s, lake, "LAKE_CRASH_AT="+crashAt, "LAKE_CRASH_AFTER=3", "LAKE_FLUSH_RECORDS=37")
	select {
	case <-c.marker:
	case err := <-c.done:
		t.Fatalf("child exited before its crash point: %v\n%s", err, c.stderr)
	case <-ctx.Done():
		t.Fatalf("child never reached its crash point\n%s", c.stderr)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done

	// What a reader sees now: committed batches only.
	checkReaderView(t, ctx, store, wl)
	// What the crash left: staged files of an uncommitted batch, staged
	// files of a committed one, or checkpoints past the group's offsets.
	uncommitted, committed := stagedFiles(t, ctx, store)
	switch crashAt {
	case "data":
		if uncommitted == 0 {
			t.Fatal("no staged files after a crash between staging and checkpoint")
		}
	case "publish":
		if committed == 0 {
			t.Fatal("no staged files of a committed batch after a crash while publishing")
		}
	case "checkpoint":
		if !checkpointsAhead(t, ctx, s, store) {
			t.Fatal("no checkpoint ahead of the group offsets after a crash before the commit")
		}
	}

	more := genWorkload(6, 9, 3)
	s.produce(t, ctx, more, 1)
	wl.devices = append(wl.devices, more.devices...)
	wl.stations = append(wl.stations, more.stations...)
	hw := s.highWatermarks(t, ctx)

	c = startChild(t, s, lake, "LAKE_FLUSH_RECORDS=53")
	waitCaughtUp(t, ctx, store, hw)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-c.done; err != nil {
		t.Fatalf("child: %v\n%s", err, c.stderr)
	}
	logs := c.stderr.String()
	if crashAt == "data" && !strings.Contains(logs, "removed a file of an uncommitted batch") {
		t.Errorf("the restarted writer did not report removing the crashed batch's staged files")
	}
	if crashAt == "publish" && !strings.Contains(logs, "published a staged file of a committed batch") {
		t.Errorf("the restarted writer did not report publishing the crashed batch's staged files")
	}

	lc := readLake(t, ctx, store)
	checkSpans(t, lc, hw)
	checkVersions(t, lc, wl)
	checkRejected(t, ctx, store, 2)
	noneStaged(t, store)
	if _, err := Compact(ctx, CompactConfig{Store: store}); err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, readLake(t, ctx, store), wl)
}

// checkReaderView checks the lake as a reader sees it (every data and
// rejected file, as a glob of dt=*/* and _rejected/* finds them): each
// file parses (no partial object), belongs to a committed batch (below its
// partition's checkpoint), and no two batches overlap, so no window
// version is there twice.
func checkReaderView(t *testing.T, ctx context.Context, store *Store, wl workload) {
	t.Helper()
	lc := readLake(t, ctx, store) // fails on a file that does not parse
	for _, ds := range Datasets() {
		cps, err := readCheckpoints(ctx, store, ds)
		if err != nil {
			t.Fatal(err)
		}
		for _, ext := range []string{ExtCSV, ExtParquet, extRejected} {
			byPart := map[int32][]span{}
			seen := map[span]bool{} // a batch has a file per date
			for _, sp := range lc.spans[string(ds)+ext] {
				if next, ok := cps[sp.Topic][sp.Partition]; !ok || sp.Last >= next {
					t.Errorf("a reader sees %s offsets %d-%d of %s/%d, past its checkpoint: not committed", ext, sp.First, sp.Last, sp.Topic, sp.Partition)
				}
				if !seen[sp] {
					seen[sp] = true
					byPart[sp.Partition] = append(byPart[sp.Partition], sp)
				}
			}
			for p, ss := range byPart {
				sort.Slice(ss, func(i, j int) bool { return ss[i].First < ss[j].First })
				for i := 1; i < len(ss); i++ {
					if ss[i].First <= ss[i-1].Last {
						t.Errorf("%s %s partition %d: files %d-%d and %d-%d overlap", ds, ext, p, ss[i-1].First, ss[i-1].Last, ss[i].First, ss[i].Last)
					}
				}
			}
		}
	}
	want := map[string]bool{}
	for _, w := range wl.devices {
		r := NewDeviceRow(&w)
		want[fmt.Sprintf("%s@%d.%d", r.windowKey(), r.Generation, r.Revision)] = true
	}
	for k, n := range deviceVersions(lc.devices) {
		if n > 1 || !want[k] {
			t.Errorf("a reader sees device version %s %d times", k, n)
		}
	}
}

// stagedFiles counts the staged part files of uncommitted batches (at or
// past their partition's checkpoint) and of committed ones.
func stagedFiles(t *testing.T, ctx context.Context, store *Store) (uncommitted, committed int) {
	t.Helper()
	for _, ds := range Datasets() {
		cps, err := readCheckpoints(ctx, store, ds)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys(t, store, string(ds)+"/"+stagingDir+"/") {
			fn := parseName(baseName(k))
			if fn.kind != kindPart {
				continue
			}
			if next, ok := cps[fn.span.Topic][fn.span.Partition]; !ok || fn.span.First >= next {
				uncommitted++
			} else {
				committed++
			}
		}
	}
	return uncommitted, committed
}

// checkpointsAhead reports whether some checkpoint is past the group's
// committed offset.
func checkpointsAhead(t *testing.T, ctx context.Context, s *stack, store *Store) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, DefaultGroup)
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range Datasets() {
		cps, err := readCheckpoints(ctx, store, ds)
		if err != nil {
			t.Fatal(err)
		}
		for topic, parts := range cps {
			for p, next := range parts {
				if o, ok := offs.Lookup(topic, p); !ok || o.At < next {
					return true
				}
			}
		}
	}
	return false
}
