package state

import (
	"bytes"
	"fmt"
	"testing"
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

// TestStoreCacheReadsOwnWrites checks the store with its cache against the
// store without one over a sequence of writes, deletes and reads.
func TestStoreCacheReadsOwnWrites(t *testing.T) {
	for _, size := range []int64{-1, 512} { // disabled; tiny (evicting)
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st, err := Builder(Options{Dir: t.TempDir(), ValueCacheSize: size})("t", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Open(); err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.MarkRecovered(); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
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
					want[k] = v
				}
				for j := 0; j < 37; j += 7 {
					k := fmt.Sprintf("key-%d", j)
					got, err := st.Get(k)
					if err != nil {
						t.Fatal(err)
					}
					w, ok := want[k]
					if (got == nil) == ok || string(got) != w {
						t.Fatalf("step %d: %s = %q, want %q (present %v)", i, k, got, w, ok)
					}
				}
			}
		})
	}
}
