package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

func TestValueCache(t *testing.T) {
	c := newValueCache(1 << 10)
	c.set("a", []byte("1"))
	if v, _, ok := c.get("a"); !ok || string(v) != "1" {
		t.Fatalf("get a = %q, %v", v, ok)
	}
	// A fill that raced with a write must not cache the older value.
	_, gen, ok := c.get("b")
	if ok {
		t.Fatal("b cached before any write")
	}
	c.set("b", []byte("new"))
	c.fill("b", []byte("old"), gen)
	if v, _, _ := c.get("b"); string(v) != "new" {
		t.Fatalf("stale fill won: b = %q", v)
	}
	// Deleted keys are gone; values are copies.
	c.del("a")
	if _, _, ok := c.get("a"); ok {
		t.Fatal("a still cached after del")
	}
	buf := []byte("xyz")
	c.set("c", buf)
	buf[0] = 'Q'
	v, _, _ := c.get("c")
	if string(v) != "xyz" {
		t.Fatalf("cache aliases the caller's slice: %q", v)
	}
	v[0] = 'Q'
	if v2, _, _ := c.get("c"); string(v2) != "xyz" {
		t.Fatalf("get returned the cached slice itself: %q", v2)
	}
	// The budget holds.
	for i := 0; i < 1000; i++ {
		c.set(fmt.Sprintf("k%04d", i), bytes.Repeat([]byte{'v'}, 20))
		if c.size > c.max {
			t.Fatalf("size %d over budget %d", c.size, c.max)
		}
	}
	var sum int64
	for k, v := range c.values {
		sum += int64(len(k) + len(v) + entryOverhead)
	}
	if sum != c.size {
		t.Fatalf("accounted size %d, actual %d", c.size, sum)
	}
	if newValueCache(-1) != nil {
		t.Fatal("negative size should disable the cache")
	}
}

// TestStoreReadsOwnWrites checks the store, with and without its value
// cache and write buffer, against a map over a sequence of writes, deletes,
// reads and iterations, and that a clean Close keeps the latest of every
// write, buffered or not.
func TestStoreReadsOwnWrites(t *testing.T) {
	for _, cache := range []int64{-1, 512} { // disabled; tiny (evicting)
		for _, buf := range []int64{-1, 256, 1 << 20} { // write through; committing every few writes; holding all
			t.Run(fmt.Sprintf("cache=%d/buffer=%d", cache, buf), func(t *testing.T) {
				opts := Options{Dir: t.TempDir(), ValueCacheSize: cache, WriteBufferSize: buf, Logger: testenv.Logger(t)}
				st := openTestStore(t, opts)
				if err := st.MarkRecovered(); err != nil {
					t.Fatal(err)
				}
				want := map[string]string{}
				check := func(step int) {
					t.Helper()
					for j := 0; j < 37; j += 7 {
						k := fmt.Sprintf("key-%d", j)
						got, err := st.Get(k)
						if err != nil {
							t.Fatal(err)
						}
						w, ok := want[k]
						if (got == nil) == ok || string(got) != w {
							t.Fatalf("step %d: %s = %q, want %q (present %v)", step, k, got, w, ok)
						}
						if has, err := st.Has(k); err != nil || has != ok {
							t.Fatalf("step %d: Has(%s) = %v, %v; want %v", step, k, has, err, ok)
						}
					}
				}
				for i := 0; i < 2000; i++ {
					k := fmt.Sprintf("key-%d", i%37)
					switch i % 5 {
					case 0:
						if err := st.Delete(k); err != nil {
							t.Fatal(err)
						}
						delete(want, k)
					default:
						v := fmt.Sprintf("value-%d", i)
						if err := st.Set(k, []byte(v)); err != nil {
							t.Fatal(err)
						}
						// The changelog's acknowledgement, as goka gives it.
						if err := st.SetOffset(int64(i)); err != nil {
							t.Fatal(err)
						}
						want[k] = v
					}
					check(i)
					if i%101 == 0 {
						if got := scan(t, st); !maps.Equal(got, want) {
							t.Fatalf("step %d: iteration %v, want %v", i, got, want)
						}
					}
				}
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				st = openTestStore(t, opts)
				defer st.Close()
				if st.rebuilt != "" {
					t.Fatalf("a cleanly closed store was rebuilt: %s", st.rebuilt)
				}
				if got := scan(t, st); !maps.Equal(got, want) {
					t.Fatalf("after a clean close: %v, want %v", got, want)
				}
			})
		}
	}
}

// TestWriteBufferHoldsBackWrites checks that buffered writes reach Pebble
// as one commit of each key's latest value: when the buffer fills, when an
// iterator is opened, or at a clean Close, and not write by write.
func TestWriteBufferHoldsBackWrites(t *testing.T) {
	st := openTestStore(t, Options{Dir: t.TempDir(), WriteBufferSize: 4 << 10, Logger: testenv.Logger(t)})
	defer st.Close()
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	inPebble := func(k string) string {
		t.Helper()
		v, closer, err := st.db.Get(dataKey(k))
		if errors.Is(err, pebble.ErrNotFound) {
			return ""
		}
		if err != nil {
			t.Fatal(err)
		}
		defer closer.Close()
		return string(v)
	}
	commits := st.Stats().BufferCommits
	// 10 keys of ~100 bytes rewritten 100 times: ~1 KiB pending, never full.
	val := bytes.Repeat([]byte("x"), 90)
	for i := range 1000 {
		if err := st.Set(fmt.Sprintf("k%d", i%10), fmt.Appendf(val[:90:90], "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := inPebble("k9"); got != "" {
		t.Fatalf("a buffered write reached Pebble before its buffer filled: %q", got)
	}
	if n := st.Stats().BufferCommits - commits; n != 0 {
		t.Fatalf("%d commits for a buffer that never filled", n)
	}
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	it.Release()
	if got, want := inPebble("k9"), string(val)+"999"; got != want {
		t.Fatalf("after an iterator opened, Pebble has %q, want %q", got, want)
	}
	// 100 distinct keys of ~100 bytes fill the 4 KiB buffer about twice.
	commits = st.Stats().BufferCommits
	for i := range 100 {
		if err := st.Set(fmt.Sprintf("n%03d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.Stats().BufferCommits - commits; n < 1 || n > 3 {
		t.Fatalf("%d commits for ~10 KiB of distinct writes through a 4 KiB buffer, want 1 to 3", n)
	}
	if got := inPebble("n000"); got != string(val) {
		t.Fatalf("the first writes of a buffer that filled are not in Pebble: %q", got)
	}
}

// TestKeepValuesSkipsTheCopy checks that a store with KeepValues keeps the
// slice a Set is given (no allocation per overwrite of a buffered key) and
// that one without it copies the value (so a caller may reuse its slice).
func TestKeepValuesSkipsTheCopy(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprint("keep=", keep), func(t *testing.T) {
			st := openTestStore(t, Options{Dir: t.TempDir(), KeepValues: keep, Logger: testenv.Logger(t)})
			defer st.Close()
			if err := st.MarkRecovered(); err != nil {
				t.Fatal(err)
			}
			v := []byte("value-1")
			if err := st.Set("k", v); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := st.Set("k", v); err != nil {
					t.Fatal(err)
				}
			})
			copy(v, "VALUE-2") // what a caller reusing its slice would do
			got, err := st.Get("k")
			if err != nil {
				t.Fatal(err)
			}
			if keep {
				if allocs != 0 {
					t.Errorf("%.1f allocations per Set of a buffered key, want 0", allocs)
				}
				if string(got) != "VALUE-2" {
					t.Errorf("Get = %q: the store copied the value it was allowed to keep", got)
				}
			} else {
				if allocs < 1 {
					t.Errorf("%.1f allocations per Set: the value was not copied", allocs)
				}
				if string(got) != "value-1" {
					t.Errorf("Get = %q: the store kept a slice the caller then modified", got)
				}
			}
		})
	}
}
