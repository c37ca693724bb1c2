package processors

import (
	"container/heap"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/watermark"
	"github.com/turnstile-streams/turnstile/windows"
)

// partClock is the in-memory view of one partition of the windowed stage:
// its watermark (the durable one, from the partition's metadata), the
// newest event time it saw, an index of the devices that have a window to
// close by the watermark at which it closes (so closing never scans the
// table), and the devices of each station (for the station rollup of a
// correction). It is rebuilt from the partition's local table whenever
// goka (re)opens that partition's storage, and touched only from the
// partition's goroutine.
type partClock struct {
	storageGen uint64 // the storage generation it was built from
	// streamTime is the partition's watermark: windows with END + grace
	// <= streamTime are closed. It only moves with the partition's
	// metadata (wire.PartitionMeta.StreamTime), written with the closes it
	// causes.
	streamTime int64
	hasTime    bool
	// newest is the latest event time the partition has seen: the
	// watermark lag metric, and how far an idle advance goes (onTick).
	newest    int64
	hasNewest bool
	index     closeIndex // next window close, by watermark
	// stations lists the reading keys of each station's devices
	// (STATION|LINENAME -> STATION|LINENAME|CA|UNIT|SCP).
	stations map[string][]string
	memo     memo // decoded values last written, by key
	// gate holds the watermark back while sources are idle until ticks
	// confirm they have no input (watermark.Gate); it starts closed.
	gate watermark.Gate
	// align pauses the partition's input while it runs ahead of the
	// others (stage.align).
	align watermark.Align
	// rows is the closes' scratch, reused by every advance (stage.advance).
	rows []windows.ClosedRow
	// wb holds device writes back (writeBehind).
	wb writeBehind
}

func newPartClock(gen uint64) *partClock {
	return &partClock{storageGen: gen, index: closeIndex{at: map[string]int64{}}, stations: map[string][]string{}}
}

// addDevice records a device key under its station.
func (c *partClock) addDevice(key string) {
	st, _, ok := schemas.SplitReadingKey(key)
	if !ok {
		return
	}
	c.stations[st] = append(c.stations[st], key)
}

// advance moves the watermark; it never goes back.
func (c *partClock) advance(t int64) bool {
	if c.hasTime && t <= c.streamTime {
		return false
	}
	c.streamTime, c.hasTime = t, true
	return true
}

// seen records an event time for the lag metric.
func (c *partClock) seen(t int64) {
	if !c.hasNewest || t > c.newest {
		c.newest, c.hasNewest = t, true
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

// get is the key's indexed time.
func (x *closeIndex) get(key string) (int64, bool) {
	at, ok := x.at[key]
	return at, ok
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

// min is the earliest time indexed.
func (x *closeIndex) min() (int64, bool) {
	for len(x.h) > 0 {
		e := x.h[0]
		if cur, ok := x.at[e.key]; ok && cur == e.at {
			return e.at, true
		}
		heap.Pop(&x.h)
	}
	return 0, false
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
