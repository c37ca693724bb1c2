package processors

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestCloseIndexPopsInOrder: against a map, through random sets (moves,
// removals, repeats) and pops: popDue hands over exactly the keys due by
// then, each once, in (time, key) order, and min is the earliest left.
func TestCloseIndexPopsInOrder(t *testing.T) {
	type entry struct {
		at  int64
		key string
	}
	r := rand.New(rand.NewPCG(7, 11))
	x := closeIndex{at: map[string]int64{}}
	want := map[string]int64{}
	var through int64
	for step := range 20000 {
		key := fmt.Sprint("k", r.IntN(300))
		switch op := r.IntN(10); {
		case op < 6:
			at := through + r.Int64N(100)
			x.set(key, at, true)
			want[key] = at
		case op < 7:
			x.set(key, 0, false)
			delete(want, key)
		default:
			through += r.Int64N(20)
			var due []entry
			for k, at := range want {
				if at <= through {
					due = append(due, entry{at, k})
					delete(want, k)
				}
			}
			slices.SortFunc(due, func(a, b entry) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.key, b.key)) })
			var wantKeys, gotKeys []string
			for _, e := range due {
				wantKeys = append(wantKeys, e.key)
			}
			x.popDue(through, func(k string) { gotKeys = append(gotKeys, k) })
			if !slices.Equal(gotKeys, wantKeys) {
				t.Fatalf("step %d: popDue(%d) gave %v, want %v", step, through, gotKeys, wantKeys)
			}
		}
		if x.len() != len(want) {
			t.Fatalf("step %d: %d keys indexed, want %d", step, x.len(), len(want))
		}
		m, ok := x.min()
		if ok != (len(want) > 0) {
			t.Fatalf("step %d: min found %v with %d keys", step, ok, len(want))
		}
		for _, at := range want {
			if at < m {
				t.Fatalf("step %d: min %d, but a key is due at %d", step, m, at)
			}
		}
		if ok && !slices.Contains(slices.Collect(maps.Values(want)), m) {
			t.Fatalf("step %d: min %d is no key's time", step, m)
		}
	}
}
