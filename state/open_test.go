package state_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/turnstile-streams/turnstile/state"
)

// fakeChangelog is a ChangelogInfo the test controls.
type fakeChangelog struct {
	mu    sync.Mutex
	st    state.ChangelogState
	err   error
	calls int
}

func (f *fakeChangelog) Describe(_ context.Context, _ string, _ int32) (state.ChangelogState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.st, f.err
}

func (f *fakeChangelog) set(st state.ChangelogState, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st, f.err = st, err
}

// logRecorder keeps the messages logged at warning level and above and
// passes everything on to the test log.
type logRecorder struct {
	slog.Handler
	min  slog.Level
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder(t testing.TB) (*slog.Logger, func() string) {
	return newRecorder(t, slog.LevelWarn)
}

// newInfoRecorder is newLogRecorder from info level on.
func newInfoRecorder(t testing.TB) (*slog.Logger, func() string) {
	return newRecorder(t, slog.LevelInfo)
}

func newRecorder(t testing.TB, min slog.Level) (*slog.Logger, func() string) {
	var mu sync.Mutex
	var msgs []string
	h := logRecorder{Handler: testLogger(t).Handler(), min: min, mu: &mu, msgs: &msgs}
	return slog.New(h), func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(msgs, "\n")
	}
}

func (r logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Level >= r.min {
		var b strings.Builder
		b.WriteString(rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		r.mu.Lock()
		*r.msgs = append(*r.msgs, b.String())
		r.mu.Unlock()
	}
	if r.Handler.Enabled(ctx, rec.Level) {
		return r.Handler.Handle(ctx, rec)
	}
	return nil
}

func (r logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return logRecorder{Handler: r.Handler.WithAttrs(as), min: r.min, mu: r.mu, msgs: r.msgs}
}

func (r logRecorder) WithGroup(name string) slog.Handler {
	return logRecorder{Handler: r.Handler.WithGroup(name), min: r.min, mu: r.mu, msgs: r.msgs}
}

// env opens stores of one state dir with a fake changelog.
type env struct {
	t    *testing.T
	dir  string
	cl   *fakeChangelog
	logs func() string
	log  *slog.Logger
}

func newEnv(t *testing.T) *env {
	log, logs := newLogRecorder(t)
	return &env{t: t, dir: t.TempDir(), cl: &fakeChangelog{st: state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 0}}, logs: logs, log: log}
}

func (e *env) open() *state.Store {
	e.t.Helper()
	st, err := e.tryOpen()
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	return st
}

func (e *env) tryOpen() (*state.Store, error) {
	return tryOpenStore(state.Options{Dir: e.dir, Logger: e.log, Changelog: e.cl}, "table", 3)
}

func (e *env) partDir() string { return filepath.Join(e.dir, "table.3") }

// fill writes n records as a recovery would and closes the store.
func (e *env) fill(n int) {
	e.t.Helper()
	st := e.open()
	for i := 0; i < n; i++ {
		if err := st.Set(fmt.Sprintf("k%05d", i), []byte(fmt.Sprint(i))); err != nil {
			e.t.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		e.t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		e.t.Fatal(err)
	}
}

func count(t testing.TB, st *state.Store) int {
	t.Helper()
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func offsetOf(t testing.TB, st *state.Store) int64 {
	t.Helper()
	o, err := st.GetOffset(-3)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// expectKept reopens and checks the store kept n records.
func (e *env) expectKept(n int) {
	e.t.Helper()
	st := e.open()
	defer st.Close()
	if r := st.Stats().Rebuilt; r != "" {
		e.t.Fatalf("store was rebuilt: %s", r)
	}
	if got := count(e.t, st); got != n {
		e.t.Fatalf("kept %d records, want %d", got, n)
	}
	if o := offsetOf(e.t, st); o != int64(n-1) {
		e.t.Fatalf("offset %d, want %d", o, n-1)
	}
}

// expectRebuilt reopens and checks the store came back empty, with the
// reason in its stats and a warning in the log.
func (e *env) expectRebuilt(reasonPart string) {
	e.t.Helper()
	st := e.open()
	defer st.Close()
	r := st.Stats().Rebuilt
	if !strings.Contains(r, reasonPart) {
		e.t.Fatalf("rebuild reason %q does not mention %q", r, reasonPart)
	}
	if n := count(e.t, st); n != 0 {
		e.t.Fatalf("rebuilt store has %d records", n)
	}
	if o := offsetOf(e.t, st); o != -3 {
		e.t.Fatalf("rebuilt store has offset %d", o)
	}
	if logs := e.logs(); !strings.Contains(logs, "rebuilding local store from the changelog") || !strings.Contains(logs, reasonPart) {
		e.t.Fatalf("no clear log line for the rebuild; logs:\n%s", logs)
	}
}

func TestOpenKeepsMatchingStore(t *testing.T) {
	e := newEnv(t)
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 0}, nil)
	e.fill(100)
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 100}, nil)
	e.expectKept(100)
	// The changelog grew (another writer, or records our store lost in a
	// crash): still ours, goka catches up.
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 150}, nil)
	e.expectKept(100)
}

func TestOpenRebuildsForeignCluster(t *testing.T) {
	e := newEnv(t)
	e.fill(100)
	e.cl.set(state.ChangelogState{ClusterID: "c2", TopicID: "t1", EndOffset: 1000}, nil)
	e.expectRebuilt(`cluster "c2"`)
	// The new identity was recorded: the next open keeps the (empty) store.
	e.cl.set(state.ChangelogState{ClusterID: "c2", TopicID: "t1", EndOffset: 1000}, nil)
	st := e.open()
	if r := st.Stats().Rebuilt; r != "" {
		t.Fatalf("rebuilt again: %s", r)
	}
	st.Close()
}

func TestOpenRebuildsRecreatedTopic(t *testing.T) {
	e := newEnv(t)
	e.fill(100)
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t2", EndOffset: 1000}, nil)
	e.expectRebuilt("recreated")
}

func TestOpenRebuildsStoreAheadOfChangelog(t *testing.T) {
	for _, end := range []int64{0, 50, 99} {
		t.Run(fmt.Sprint(end), func(t *testing.T) {
			e := newEnv(t)
			e.fill(100) // offset 99
			e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: end}, nil)
			e.expectRebuilt("not below the changelog's end offset")
		})
	}
}

func TestOpenRebuildsWhenChangelogIsGone(t *testing.T) {
	e := newEnv(t)
	e.fill(10)
	e.cl.set(state.ChangelogState{}, fmt.Errorf("%w: table", state.ErrTopicNotFound))
	e.expectRebuilt("does not exist")
}

func TestOpenFailsWhenKafkaCannotTell(t *testing.T) {
	e := newEnv(t)
	e.fill(10)
	boom := errors.New("broker unreachable")
	e.cl.set(state.ChangelogState{}, boom)
	if _, err := e.tryOpen(); !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "state: ") {
		t.Fatalf("open with Kafka down: %v", err)
	}
	// Nothing was wiped, and the failed open released the directory.
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 10}, nil)
	e.expectKept(10)
}

func TestOpenWithoutChangelogKeepsStore(t *testing.T) {
	e := newEnv(t)
	e.fill(10)
	e.cl = nil
	ss, err := state.New(state.Options{Dir: e.dir, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := ss.Store("table", 3)
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := count(t, st); n != 10 {
		t.Fatalf("kept %d", n)
	}
}

func TestOpenRebuildsCorruptManifest(t *testing.T) {
	e := newEnv(t)
	e.fill(1000)
	ms, _ := filepath.Glob(filepath.Join(e.partDir(), "MANIFEST-*"))
	if len(ms) == 0 {
		t.Fatal("no MANIFEST")
	}
	for _, m := range ms {
		garble(t, m, 0)
	}
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 1000}, nil)
	e.expectRebuilt("pebble cannot open it")
}

func TestCorruptTableIsRebuiltOnNextOpen(t *testing.T) {
	e := newEnv(t)
	// Enough data for Pebble to flush a table file.
	st := e.open()
	val := []byte(strings.Repeat("v", 100))
	for i := 0; i < 60000; i++ {
		if err := st.Set(fmt.Sprintf("k%06d", i), val); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(e.partDir(), "*.sst"))
	if len(ssts) == 0 {
		t.Fatal("no table files")
	}
	for _, f := range ssts {
		garble(t, f, 64) // data blocks, not the footer: Pebble still opens
	}
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 60000}, nil)
	st = e.open()
	if r := st.Stats().Rebuilt; r != "" {
		// A compaction Pebble starts while opening read a garbled block
		// first: the open itself found the corruption and rebuilt the
		// store, which is as good.
		if !strings.Contains(r, "corruption") {
			t.Fatalf("rebuilt at open for %q, not the corruption", r)
		}
		if n := count(t, st); n != 0 {
			t.Fatalf("store rebuilt at open has %d records", n)
		}
		if logs := e.logs(); !strings.Contains(logs, "rebuilding local store from the changelog") {
			t.Fatalf("no clear log line for the rebuild; logs:\n%s", logs)
		}
		_ = st.Close()
		return
	}
	// Reading finds the corruption: the read fails, and the store refuses
	// further use and is marked for rebuild.
	var readErr error
	for i := 0; i < 60000 && readErr == nil; i += 997 {
		_, readErr = st.Get(fmt.Sprintf("k%06d", i))
	}
	if readErr == nil {
		t.Fatal("reads of a garbled table succeeded")
	}
	if !strings.HasPrefix(readErr.Error(), "state: ") {
		t.Fatalf("error without prefix: %v", readErr)
	}
	if err := st.Set("x", []byte("y")); err == nil {
		t.Fatal("write to a store known corrupt succeeded")
	}
	_ = st.Close()
	e.expectRebuilt("corruption")
}

func TestOpenRefusesLockedDirectory(t *testing.T) {
	e := newEnv(t)
	e.fill(10)
	e.cl.set(state.ChangelogState{ClusterID: "c1", TopicID: "t1", EndOffset: 10}, nil)
	first := e.open()
	if _, err := e.tryOpen(); err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("second open of the same partition: %v", err)
	}
	if n := count(t, first); n != 10 {
		t.Fatalf("first store lost data: %d", n)
	}
	first.Close()
	e.expectKept(10)
}

// garble overwrites the middle of a file (from skip on) with garbage.
func garble(t *testing.T, path string, skip int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	n := fi.Size() - skip
	if skip > 0 {
		n = fi.Size()/2 - skip
	}
	if n <= 0 {
		n = fi.Size()
		skip = 0
	}
	junk := make([]byte, n)
	for i := range junk {
		junk[i] = byte(i*7 + 13)
	}
	if _, err := f.WriteAt(junk, skip); err != nil {
		t.Fatal(err)
	}
}
