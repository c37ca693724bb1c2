package state_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"

	"github.com/turnstile-streams/turnstile/state"
)

// impl is one storage.Storage implementation under test. open builds and
// opens a storage whose files (if any) live in dir; opening the same dir
// again must see what the previous one stored.
type impl struct {
	name       string
	persistent bool
	open       func(t testing.TB, dir string) storage.Storage
}

func impls() []impl {
	return []impl{
		{name: "memory", open: func(t testing.TB, _ string) storage.Storage {
			st := storage.NewMemory()
			mustOpen(t, st)
			return st
		}},
		{name: "leveldb", persistent: true, open: func(t testing.TB, dir string) storage.Storage {
			db, err := leveldb.OpenFile(filepath.Join(dir, "leveldb"), nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := storage.New(db)
			if err != nil {
				t.Fatal(err)
			}
			mustOpen(t, st)
			return st
		}},
		{name: "pebble", persistent: true, open: func(t testing.TB, dir string) storage.Storage {
			st, err := state.Builder(state.Options{Dir: dir, Logger: testLogger(t)})("table", 0)
			if err != nil {
				t.Fatal(err)
			}
			mustOpen(t, st)
			return st
		}},
	}
}

func mustOpen(t testing.TB, st storage.Storage) {
	t.Helper()
	if err := st.Open(); err != nil {
		t.Fatalf("open: %v", err)
	}
}

// harness holds the storage of one case and can reopen it (persistent
// implementations only).
type harness struct {
	t      testing.TB
	im     impl
	dir    string
	st     storage.Storage
	closed bool
}

func (h *harness) close() {
	h.t.Helper()
	if h.closed {
		return
	}
	h.closed = true
	if err := h.st.Close(); err != nil {
		h.t.Fatalf("close: %v", err)
	}
}

func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	h.st = h.im.open(h.t, h.dir)
	h.closed = false
}

// Helpers that fail the case on error.
func (h *harness) set(k, v string) {
	h.t.Helper()
	if err := h.st.Set(k, []byte(v)); err != nil {
		h.t.Fatalf("set %q: %v", k, err)
	}
}

func (h *harness) get(k string) []byte {
	h.t.Helper()
	v, err := h.st.Get(k)
	if err != nil {
		h.t.Fatalf("get %q: %v", k, err)
	}
	return v
}

func (h *harness) has(k string) bool {
	h.t.Helper()
	ok, err := h.st.Has(k)
	if err != nil {
		h.t.Fatalf("has %q: %v", k, err)
	}
	return ok
}

func (h *harness) offset(def int64) int64 {
	h.t.Helper()
	o, err := h.st.GetOffset(def)
	if err != nil {
		h.t.Fatalf("get offset: %v", err)
	}
	return o
}

func (h *harness) setOffset(o int64) {
	h.t.Helper()
	if err := h.st.SetOffset(o); err != nil {
		h.t.Fatalf("set offset %d: %v", o, err)
	}
}

func (h *harness) recovered() {
	h.t.Helper()
	if err := h.st.MarkRecovered(); err != nil {
		h.t.Fatalf("mark recovered: %v", err)
	}
}

// drain returns "k=v" for every pair left in it, and releases it.
func (h *harness) drain(it storage.Iterator) []string {
	h.t.Helper()
	defer it.Release()
	var out []string
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			h.t.Fatalf("value: %v", err)
		}
		out = append(out, string(it.Key())+"="+string(v))
	}
	if err := it.Err(); err != nil {
		h.t.Fatalf("iterate: %v", err)
	}
	return out
}

func (h *harness) all() []string {
	h.t.Helper()
	it, err := h.st.Iterator()
	if err != nil {
		h.t.Fatalf("iterator: %v", err)
	}
	return h.drain(it)
}

func (h *harness) rng(start, limit string) []string {
	h.t.Helper()
	var s, l []byte
	if start != "" {
		s = []byte(start)
	}
	if limit != "" {
		l = []byte(limit)
	}
	it, err := h.st.IteratorWithRange(s, l)
	if err != nil {
		h.t.Fatalf("iterator with range: %v", err)
	}
	return h.drain(it)
}

func wantList(t testing.TB, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

func wantBytes(t testing.TB, what string, got []byte, want string) {
	t.Helper()
	if got == nil || string(got) != want {
		t.Fatalf("%s: got %q (nil=%v), want %q", what, got, got == nil, want)
	}
}

// conformanceCase is one behaviour every goka storage should have. diverge
// names the implementations known not to have it, with the reason: their
// run is skipped with that reason, so the table documents goka's own
// inconsistencies instead of hiding them.
type conformanceCase struct {
	name       string
	persistent bool
	diverge    map[string]string
	run        func(h *harness)
}

var conformanceCases = []conformanceCase{
	{name: "get missing key is nil, nil", run: func(h *harness) {
		if v := h.get("nope"); v != nil {
			h.t.Fatalf("get missing: %q", v)
		}
		if h.has("nope") {
			h.t.Fatal("has missing: true")
		}
	}},
	{name: "set get has overwrite", run: func(h *harness) {
		h.set("k", "v1")
		wantBytes(h.t, "get", h.get("k"), "v1")
		if !h.has("k") {
			h.t.Fatal("has: false")
		}
		h.set("k", "v2")
		wantBytes(h.t, "get after overwrite", h.get("k"), "v2")
	}},
	{name: "delete", run: func(h *harness) {
		h.set("k", "v")
		h.set("other", "o")
		if err := h.st.Delete("k"); err != nil {
			h.t.Fatal(err)
		}
		if v := h.get("k"); v != nil || h.has("k") {
			h.t.Fatalf("deleted key still there: %q", v)
		}
		if err := h.st.Delete("never-set"); err != nil {
			h.t.Fatalf("delete missing: %v", err)
		}
		wantBytes(h.t, "other key", h.get("other"), "o")
		wantList(h.t, "iteration", h.all(), "other=o")
	}},
	{name: "empty value exists and is non-nil", run: func(h *harness) {
		h.set("k", "")
		if !h.has("k") {
			h.t.Fatal("has: false")
		}
		if v := h.get("k"); v == nil || len(v) != 0 {
			h.t.Fatalf("get: %q (nil=%v), want empty non-nil", v, v == nil)
		}
	}},
	{name: "nil value is stored as empty", diverge: map[string]string{
		"memory": "goka's memory storage rejects nil values with an error",
	}, run: func(h *harness) {
		if err := h.st.Set("k", nil); err != nil {
			h.t.Fatalf("set nil: %v", err)
		}
		if !h.has("k") {
			h.t.Fatal("has: false")
		}
	}},
	{name: "get returns a copy", diverge: map[string]string{
		"memory": "goka's memory storage returns its internal slice",
	}, run: func(h *harness) {
		h.set("k", "value")
		v := h.get("k")
		v[0] = 'X'
		wantBytes(h.t, "get after mutating a result", h.get("k"), "value")
	}},
	{name: "set copies the value", diverge: map[string]string{
		"memory": "goka's memory storage keeps the caller's slice",
	}, run: func(h *harness) {
		buf := []byte("value")
		if err := h.st.Set("k", buf); err != nil {
			h.t.Fatal(err)
		}
		buf[0] = 'X'
		wantBytes(h.t, "get after mutating the input", h.get("k"), "value")
	}},
	{name: "binary and unicode keys", run: func(h *harness) {
		keys := []string{"\x00", "\x00\x01", "a\x00b", "\xff", "\xff\xff", "ключ", "__offset2", ""}
		for i, k := range keys {
			h.set(k, fmt.Sprint(i))
		}
		for i, k := range keys {
			wantBytes(h.t, fmt.Sprintf("get %q", k), h.get(k), fmt.Sprint(i))
		}
		sorted := append([]string(nil), keys...)
		sort.Strings(sorted)
		var want []string
		for _, k := range sorted {
			for i, kk := range keys {
				if kk == k {
					want = append(want, fmt.Sprintf("%s=%d", k, i))
				}
			}
		}
		wantList(h.t, "iteration", h.all(), want...)
	}},
	{name: "large value", run: func(h *harness) {
		big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		if err := h.st.Set("big", big); err != nil {
			h.t.Fatal(err)
		}
		if v := h.get("big"); !bytes.Equal(v, big) {
			h.t.Fatalf("big value: got %d bytes", len(v))
		}
	}},
	{name: "offset defaults until set", run: func(h *harness) {
		if o := h.offset(-3); o != -3 {
			h.t.Fatalf("offset: %d, want default -3", o)
		}
		h.setOffset(100)
		if o := h.offset(-3); o != 100 {
			h.t.Fatalf("offset while recovering: %d, want 100", o)
		}
		h.recovered()
		if o := h.offset(-3); o != 100 {
			h.t.Fatalf("offset after MarkRecovered: %d, want 100", o)
		}
		h.setOffset(101)
		if o := h.offset(-3); o != 101 {
			h.t.Fatalf("offset: %d, want 101", o)
		}
	}},
	{name: "offset zero is an offset", diverge: map[string]string{
		"leveldb": "goka's LevelDB storage treats an in-memory offset of 0 as unset and returns the default while recovering",
	}, run: func(h *harness) {
		h.setOffset(0)
		if o := h.offset(-3); o != 0 {
			h.t.Fatalf("offset: %d, want 0", o)
		}
	}},
	{name: "offset never shows in iteration", run: func(h *harness) {
		h.setOffset(7)
		h.recovered()
		h.setOffset(8)
		h.set("a", "1")
		h.set("z", "2")
		wantList(h.t, "iteration", h.all(), "a=1", "z=2")
		wantList(h.t, "range", h.rng("a", "zz"), "a=1", "z=2")
	}},
	{name: "iteration is sorted and ends cleanly", run: func(h *harness) {
		for _, k := range []string{"c", "a", "b"} {
			h.set(k, strings.ToUpper(k))
		}
		it, err := h.st.Iterator()
		if err != nil {
			h.t.Fatal(err)
		}
		got := h.drain(it)
		wantList(h.t, "iteration", got, "a=A", "b=B", "c=C")
		it, err = h.st.Iterator()
		if err != nil {
			h.t.Fatal(err)
		}
		for it.Next() {
		}
		if it.Next() {
			h.t.Fatal("Next after the end: true")
		}
		if k := it.Key(); k != nil {
			h.t.Fatalf("Key after the end: %q", k)
		}
		if v, err := it.Value(); v != nil || err != nil {
			h.t.Fatalf("Value after the end: %q, %v", v, err)
		}
		it.Release()
		if it.Next() {
			h.t.Fatal("Next after Release: true")
		}
	}},
	{name: "iterator is a snapshot", run: func(h *harness) {
		h.set("a", "1")
		h.set("b", "2")
		it, err := h.st.Iterator()
		if err != nil {
			h.t.Fatal(err)
		}
		h.set("c", "3")
		h.set("a", "changed")
		if err := h.st.Delete("b"); err != nil {
			h.t.Fatal(err)
		}
		wantList(h.t, "snapshot", h.drain(it), "a=1", "b=2")
		wantList(h.t, "now", h.all(), "a=changed", "c=3")
	}},
	{name: "range is half-open", diverge: map[string]string{
		"memory": "goka's memory storage includes the limit key",
	}, run: func(h *harness) {
		for _, k := range []string{"a", "b", "c", "d"} {
			h.set(k, k)
		}
		wantList(h.t, "[b,d)", h.rng("b", "d"), "b=b", "c=c")
		wantList(h.t, "[b,bb)", h.rng("b", "bb"), "b=b")
		wantList(h.t, "[c,b)", h.rng("c", "b"))
	}},
	{name: "range without limit is a prefix scan", run: func(h *harness) {
		for _, k := range []string{"user", "user:1", "user:2", "users", "v"} {
			h.set(k, "x")
		}
		wantList(h.t, "prefix user:", h.rng("user:", ""), "user:1=x", "user:2=x")
		wantList(h.t, "prefix user", h.rng("user", ""), "user=x", "user:1=x", "user:2=x", "users=x")
	}},
	{name: "range without bounds is everything", diverge: map[string]string{
		"memory": "goka's memory storage returns nothing for IteratorWithRange(nil, nil)",
	}, run: func(h *harness) {
		h.set("a", "1")
		h.set("\xff", "2")
		wantList(h.t, "all", h.rng("", ""), "a=1", "\xff=2")
	}},
	{name: "seek to an existing key", run: func(h *harness) {
		for i := 1; i <= 3; i++ {
			h.set(fmt.Sprintf("key-%d", i), fmt.Sprintf("val-%d", i))
		}
		it, err := h.st.Iterator()
		if err != nil {
			h.t.Fatal(err)
		}
		defer it.Release()
		if !it.Seek([]byte("key-2")) {
			h.t.Fatal("seek key-2: false")
		}
		wantBytes(h.t, "key after seek", it.Key(), "key-2")
		v, err := it.Value()
		if err != nil {
			h.t.Fatal(err)
		}
		wantBytes(h.t, "value after seek", v, "val-2")
		if !it.Next() {
			h.t.Fatal("next after seek: false")
		}
		wantBytes(h.t, "key after seek+next", it.Key(), "key-3")
		if it.Seek([]byte("key-4")) {
			h.t.Fatal("seek past the end: true")
		}
		if k := it.Key(); k != nil {
			h.t.Fatalf("key after seeking past the end: %q", k)
		}
	}},
	{name: "seek lands on the next greater key", diverge: map[string]string{
		"memory": "goka's memory storage seeks to the next key with the given prefix, not the next greater key",
	}, run: func(h *harness) {
		h.set("key-1", "1")
		h.set("key-2", "2")
		it, err := h.st.Iterator()
		if err != nil {
			h.t.Fatal(err)
		}
		defer it.Release()
		if !it.Seek([]byte("key-15")) {
			h.t.Fatal("seek key-15: false")
		}
		wantBytes(h.t, "key", it.Key(), "key-2")
	}},
	{name: "seek stays inside a range", diverge: map[string]string{
		"memory": "goka's memory storage seeks by prefix",
	}, run: func(h *harness) {
		for _, k := range []string{"a", "b", "c", "d"} {
			h.set(k, k)
		}
		it, err := h.st.IteratorWithRange([]byte("b"), []byte("d"))
		if err != nil {
			h.t.Fatal(err)
		}
		defer it.Release()
		if !it.Seek([]byte("a")) {
			h.t.Fatal("seek below the range: false")
		}
		wantBytes(h.t, "seek below the range", it.Key(), "b")
		if !it.Seek([]byte("bb")) {
			h.t.Fatal("seek inside the range: false")
		}
		wantBytes(h.t, "seek inside the range", it.Key(), "c")
		if it.Seek([]byte("d")) {
			h.t.Fatalf("seek to the limit: true, key %q", it.Key())
		}
	}},
	{name: "seek never lands on the offset", diverge: map[string]string{
		"memory":  "goka's memory storage seeks by prefix (finds nothing for \"__\")",
		"leveldb": "goka's LevelDB storage stores the offset as table key \"__offset\" and Seek returns it",
	}, run: func(h *harness) {
		h.setOffset(5)
		h.recovered()
		h.set("a", "1")
		it, err := h.st.Iterator()
		if err != nil {
			h.t.Fatal(err)
		}
		defer it.Release()
		if !it.Seek([]byte("__")) {
			h.t.Fatal("seek: false")
		}
		wantBytes(h.t, "key after seek", it.Key(), "a")
	}},
	{name: "reads see writes made while recovering", run: func(h *harness) {
		h.set("a", "1")
		h.setOffset(1)
		wantBytes(h.t, "get", h.get("a"), "1")
		h.set("b", "2")
		wantList(h.t, "iteration", h.all(), "a=1", "b=2")
		h.recovered()
		wantList(h.t, "iteration after recovery", h.all(), "a=1", "b=2")
	}},
	{name: "reopen keeps data and offset", persistent: true, run: func(h *harness) {
		h.set("a", "1")
		h.set("b", "2")
		h.setOffset(100)
		h.reopen()
		wantList(h.t, "after reopen while recovering", h.all(), "a=1", "b=2")
		if o := h.offset(-3); o != 100 {
			h.t.Fatalf("offset after reopen: %d, want 100", o)
		}
		h.recovered()
		if err := h.st.Delete("a"); err != nil {
			h.t.Fatal(err)
		}
		h.set("c", "3")
		h.setOffset(101)
		h.reopen()
		wantList(h.t, "after second reopen", h.all(), "b=2", "c=3")
		if o := h.offset(-3); o != 101 {
			h.t.Fatalf("offset after second reopen: %d, want 101", o)
		}
	}},
	{name: "many keys", run: func(h *harness) {
		const n = 5000
		for i := 0; i < n; i++ {
			h.set(fmt.Sprintf("k%05d", i), fmt.Sprint(i))
			h.setOffset(int64(i))
		}
		h.recovered()
		got := h.all()
		if len(got) != n || got[0] != "k00000=0" || got[n-1] != fmt.Sprintf("k%05d=%d", n-1, n-1) {
			h.t.Fatalf("iterated %d keys, first %q", len(got), got[:min(3, len(got))])
		}
		wantList(h.t, "range", h.rng("k00100", "k00102x"), "k00100=100", "k00101=101", "k00102=102")
		if o := h.offset(-3); o != n-1 {
			h.t.Fatalf("offset %d", o)
		}
	}},
	{name: "one writer with concurrent readers", run: func(h *harness) {
		h.recovered()
		var wg sync.WaitGroup
		stop := make(chan struct{})
		errs := make(chan error, 8)
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := h.st.Get("k1"); err != nil {
						errs <- err
						return
					}
					if _, err := h.st.GetOffset(0); err != nil {
						errs <- err
						return
					}
					it, err := h.st.Iterator()
					if err != nil {
						errs <- err
						return
					}
					for i := 0; i < 10 && it.Next(); i++ {
						_, _ = it.Value()
					}
					it.Release()
				}
			}()
		}
		for i := 0; i < 2000; i++ {
			if err := h.st.Set(fmt.Sprintf("k%d", i%50), []byte(fmt.Sprint(i))); err != nil {
				h.t.Fatal(err)
			}
			if err := h.st.SetOffset(int64(i)); err != nil {
				h.t.Fatal(err)
			}
		}
		close(stop)
		wg.Wait()
		close(errs)
		for err := range errs {
			h.t.Fatal(err)
		}
		wantBytes(h.t, "last write", h.get("k49"), "1999")
	}},
	{name: "use after close fails without panicking", diverge: map[string]string{
		"memory": "goka's memory storage keeps working after Close",
	}, run: func(h *harness) {
		h.set("a", "1")
		h.close()
		if _, err := h.st.Get("a"); err == nil {
			h.t.Fatal("get after close: no error")
		}
		if err := h.st.Set("a", []byte("2")); err == nil {
			h.t.Fatal("set after close: no error")
		}
	}},
}

// TestConformance runs every case against goka's memory and LevelDB
// storages and ours.
func TestConformance(t *testing.T) {
	for _, c := range conformanceCases {
		t.Run(c.name, func(t *testing.T) {
			for _, im := range impls() {
				t.Run(im.name, func(t *testing.T) {
					if why, ok := c.diverge[im.name]; ok {
						if im.name == "pebble" {
							t.Fatalf("our storage may not diverge: %s", why)
						}
						// Prove the divergence is real (and so that the
						// case can fail) before skipping it.
						if msg, failed := runExpectingFailure(t, c, im); !failed {
							t.Fatalf("case passes although listed as a divergence (%s); remove it from diverge", why)
						} else {
							t.Skipf("known divergence: %s (fails with: %s)", why, msg)
						}
					}
					if c.persistent && !im.persistent {
						t.Skip("not persistent")
					}
					dir := t.TempDir()
					h := &harness{t: t, im: im, dir: dir, st: im.open(t, dir)}
					defer h.close()
					c.run(h)
				})
			}
		})
	}
}

// failRecorder is a testing.TB whose Fatal stops the case's goroutine and
// records the message instead of failing the test.
type failRecorder struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (f *failRecorder) Helper() {}

func (f *failRecorder) Fatal(args ...any) { f.stop(fmt.Sprint(args...)) }

func (f *failRecorder) Fatalf(format string, args ...any) { f.stop(fmt.Sprintf(format, args...)) }

func (f *failRecorder) Error(args ...any) { f.stop(fmt.Sprint(args...)) }

func (f *failRecorder) Errorf(format string, args ...any) { f.stop(fmt.Sprintf(format, args...)) }

func (f *failRecorder) stop(msg string) {
	f.mu.Lock()
	if !f.failed {
		f.failed, f.msg = true, msg
	}
	f.mu.Unlock()
	runtime.Goexit()
}

// runExpectingFailure runs c against im and reports whether it failed.
func runExpectingFailure(t *testing.T, c conformanceCase, im impl) (string, bool) {
	rec := &failRecorder{TB: t}
	dir := t.TempDir()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := &harness{t: rec, im: im, dir: dir}
		defer func() {
			if h.st != nil && !h.closed {
				h.closed = true
				_ = h.st.Close()
			}
		}()
		h.st = im.open(rec, dir)
		c.run(h)
	}()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.msg, rec.failed
}
