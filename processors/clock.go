package processors

import (
	"container/heap"
	"time"
)

// partClock is the in-memory view of one partition of a windowed group:
// its stream time, when it last saw input, and an index of the keys that
// have a window to close by the stream time at which it closes, so closing
// never scans the table. It is rebuilt from the partition's local table
// whenever goka (re)opens that partition's storage, and touched only from
// the partition's goroutine.
type partClock struct {
	storageGen uint64 // the storage generation it was built from
	streamTime int64
	hasTime    bool
	// dataTime is the stream time the input itself reached, without idle
	// advances to the wall clock: what retention of derived data follows.
	dataTime     int64
	hasData      bool
	lastActivity time.Time
	index        closeIndex // next window close, by stream time
	expiries     closeIndex // key deletion past retention, by data time
	memo         memo       // decoded values last written, by key
}

func newPartClock(gen uint64) *partClock {
	return &partClock{storageGen: gen, lastActivity: time.Now(), index: closeIndex{at: map[string]int64{}},
		expiries: closeIndex{at: map[string]int64{}}}
}

// observe advances stream time; it never goes back.
func (c *partClock) observe(t int64) {
	if !c.hasTime || t > c.streamTime {
		c.streamTime, c.hasTime = t, true
	}
}

// observeData advances data time and stream time.
func (c *partClock) observeData(t int64) {
	if !c.hasData || t > c.dataTime {
		c.dataTime, c.hasData = t, true
	}
	c.observe(t)
}

// watermark advances data time to the least data time of the n upstream
// (device) partitions, once every one has reported; it never goes back.
func (c *partClock) watermark(sources map[int32]int64, n int) {
	var w int64
	for p := range n {
		t, ok := sources[int32(p)]
		if !ok {
			return
		}
		if p == 0 || t < w {
			w = t
		}
	}
	if n > 0 && (!c.hasData || w > c.dataTime) {
		c.dataTime, c.hasData = w, true
	}
}

// due pops the keys whose next close time stream time has reached.
func (c *partClock) due(fn func(key string)) {
	if c.hasTime {
		c.index.popDue(c.streamTime, fn)
	}
	if c.hasData {
		c.expiries.popDue(c.dataTime, fn)
	}
}

// closeIndex maps keys to the stream time at which they next need a close,
// with a min-heap for popping; stale heap entries are skipped lazily.
type closeIndex struct {
	at map[string]int64
	h  closeHeap
}

func (x *closeIndex) set(key string, at int64, ok bool) {
	if !ok {
		delete(x.at, key)
		return
	}
	if cur, exists := x.at[key]; exists && cur == at {
		return
	}
	x.at[key] = at
	heap.Push(&x.h, closeEntry{at, key})
	if len(x.h) > 2*len(x.at)+1024 {
		x.compact()
	}
}

func (x *closeIndex) popDue(through int64, fn func(key string)) {
	for len(x.h) > 0 && x.h[0].at <= through {
		e := heap.Pop(&x.h).(closeEntry)
		if cur, ok := x.at[e.key]; ok && cur == e.at {
			delete(x.at, e.key)
			fn(e.key)
		}
	}
}

func (x *closeIndex) compact() {
	x.h = x.h[:0]
	for k, at := range x.at {
		x.h = append(x.h, closeEntry{at, k})
	}
	heap.Init(&x.h)
}

func (x *closeIndex) len() int { return len(x.at) }

type closeEntry struct {
	at  int64
	key string
}

type closeHeap []closeEntry

func (h closeHeap) Len() int { return len(h) }
func (h closeHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].key < h[j].key
}
func (h closeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *closeHeap) Push(x any)   { *h = append(*h, x.(closeEntry)) }
func (h *closeHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
