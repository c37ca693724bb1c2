package processors

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/turnstile-streams/turnstile/state"
)

// tableCodec encodes every value a windowed group's table holds.
type tableCodec struct{}

func (tableCodec) Encode(v any) ([]byte, error) {
	switch s := v.(type) {
	case *DeviceState:
		return encodeDevice(s, nil), nil
	case *StationState:
		return encodeStation(s, nil), nil
	case *partitionMeta:
		return encodeMeta(s), nil
	}
	return nil, fmt.Errorf("processors: table codec cannot encode %T", v)
}

func (tableCodec) Decode(b []byte) (any, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("processors: %w: empty table value", errCorrupt)
	}
	switch b[0] {
	case tagDevice:
		return decodeDevice(b)
	case tagStation:
		return decodeStation(b)
	case tagPartition:
		return decodeMeta(b)
	}
	return nil, fmt.Errorf("processors: %w: table value tag %d", errCorrupt, b[0])
}

// windowedState is what the shared closing machinery needs from a key's
// value.
type windowedState interface {
	// mark is the stream time the value proves the partition reached.
	mark() (int64, bool)
	// dataMark is the data time it proves (mark without idle advances).
	dataMark() (int64, bool)
	nextClose(*Semantics) (int64, bool)
}

func (s *DeviceState) mark() (int64, bool) {
	t, ok := s.maxEventTime()
	if s.HasClosed && (!ok || s.ClosedThrough > t) {
		return s.ClosedThrough, true
	}
	return t, ok
}

func (s *DeviceState) dataMark() (int64, bool) { return s.maxEventTime() }

// dataMark of a station window is none: a station partition's data time is
// its watermark, the least data time of the device partitions (see
// partClock.watermark), because device partitions progress independently
// and a window's revisions from a lagging one are still to come.
func (s *StationState) dataMark() (int64, bool) { return 0, false }

func (s *StationState) mark() (int64, bool) {
	if s.HasClosed && (!s.HasEnd || s.ClosedThrough > s.MaxEnd) {
		return s.ClosedThrough, true
	}
	return s.MaxEnd, s.HasEnd
}

// storageTracker wraps the storage builder to know which storage goka
// currently has open for each partition of the group table, and a
// generation that changes whenever goka reopens one (a rebalance or a
// restart), which is when a partition's clock must be rebuilt.
type storageTracker struct {
	stores *state.Stores
	table  string

	mu   sync.Mutex
	gen  uint64
	open map[int32]trackedStorage
}

type trackedStorage struct {
	st  storage.Storage
	gen uint64
}

func newStorageTracker(stores *state.Stores, table string) *storageTracker {
	return &storageTracker{stores: stores, table: table, open: map[int32]trackedStorage{}}
}

func (t *storageTracker) Build(topic string, partition int32) (storage.Storage, error) {
	st, err := t.stores.Build(topic, partition)
	if err == nil && topic == t.table {
		t.mu.Lock()
		t.gen++
		t.open[partition] = trackedStorage{st, t.gen}
		t.mu.Unlock()
	}
	return st, err
}

// current is the storage goka opened last for the partition.
func (t *storageTracker) current(partition int32) trackedStorage {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open[partition]
}

// windowed is the closing machinery shared by the device and station
// groups: per-partition clocks rebuilt from the table, closes sent through
// the loopback topic, ticks for idle partitions.
type windowed struct {
	name    string
	sem     *Semantics
	idle    time.Duration
	gen     int32
	tracker *storageTracker
	ctrl    []string // control key per partition
	log     *slog.Logger
	metrics *Metrics

	// publishData: the partition metadata records the data time reached,
	// which the device relay passes on as watermarks (the device group).
	publishData bool
	// sources is the number of upstream partitions whose watermarks make
	// this group's data time (the station group; 0: data time is the
	// largest event time seen).
	sources int

	// schedule indexes when a key needs its next close (the station group
	// also schedules deletions past retention).
	schedule func(c *partClock, key string, v windowedState)

	mu     sync.Mutex
	clocks map[int32]*partClock
}

func (w *windowed) stamp() stamp { return stamp{Now: time.Now().UnixMilli(), Gen: w.gen} }

// clock returns the partition's clock, rebuilding it from the local table
// if goka opened the partition's storage since it was built.
func (w *windowed) clock(ctx goka.Context) *partClock {
	p := ctx.Partition()
	cur := w.tracker.current(p)
	w.mu.Lock()
	c := w.clocks[p]
	w.mu.Unlock()
	if c != nil && c.storageGen == cur.gen {
		return c
	}
	c = w.rebuild(ctx, p, cur)
	w.mu.Lock()
	w.clocks[p] = c
	w.mu.Unlock()
	return c
}

func (w *windowed) rebuild(ctx goka.Context, p int32, cur trackedStorage) *partClock {
	start := time.Now()
	c := newPartClock(cur.gen)
	if cur.st == nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d has no open storage", w.name, p))
	}
	it, err := cur.st.Iterator()
	if err != nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d: iterate: %w", w.name, p, err))
	}
	defer it.Release()
	keys := 0
	for it.Next() {
		b, err := it.Value()
		if err != nil {
			ctx.Fail(fmt.Errorf("processors: %s: partition %d: %w", w.name, p, err))
		}
		v, err := tableCodec{}.Decode(b)
		if err != nil {
			ctx.Fail(fmt.Errorf("processors: %s: partition %d key %q: %w", w.name, p, it.Key(), err))
		}
		keys++
		switch s := v.(type) {
		case *partitionMeta:
			c.observe(s.StreamTime)
			if w.sources > 0 {
				c.watermark(s.Sources, w.sources)
			}
		case windowedState:
			if t, ok := s.dataMark(); ok {
				c.observeData(t)
			}
			if t, ok := s.mark(); ok {
				c.observe(t)
			}
			w.schedule(c, string(it.Key()), s)
		}
	}
	if err := it.Err(); err != nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d: iterate: %w", w.name, p, err))
	}
	w.log.Info("partition clock rebuilt", "group", w.name, "partition", p, "keys", keys,
		"stream_time", time.UnixMilli(c.streamTime).UTC(), "open_keys", c.index.len(), "took", time.Since(start).Round(time.Millisecond))
	return c
}

// sweep asks every key whose windows stream time has closed to close them,
// through the loopback topic (goka only lets a callback write its own key).
func (w *windowed) sweep(ctx goka.Context, c *partClock) {
	c.due(func(key string) {
		ctx.Loopback(key, closeMsg{Through: c.streamTime, Data: c.dataTime})
		w.metrics.closesSent.WithLabelValues(w.name).Inc()
	})
}

// onTick handles a tick on a partition's control key: it advances an idle,
// caught-up partition to wall-clock time, and lets a freshly rebuilt
// partition close what became due while nobody was processing it.
func (w *windowed) onTick(ctx goka.Context, m tickMsg) {
	p := ctx.Partition()
	if int(p) >= len(w.ctrl) || ctx.Key() != w.ctrl[p] {
		return // a tick for another partition count; ignore
	}
	c := w.clock(ctx)
	meta, _ := value(ctx, c).(*partitionMeta)
	if meta == nil {
		meta = &partitionMeta{LastTick: -1}
	}
	if ctx.Offset() <= meta.LastTick {
		return
	}
	// Only a partition that has seen data advances: one that never did has
	// nothing to close, and advancing it would make every reading that
	// arrives later (a backfill of old data into a fresh pipeline) too late.
	changed := false
	meta.Mark = false // transient: only the write that advances DataTime marks
	if w.idle > 0 && m.CaughtUp && c.hasTime && time.Since(c.lastActivity) >= w.idle && m.Wall > c.streamTime {
		c.observe(m.Wall)
		meta.StreamTime, changed = c.streamTime, true
		w.metrics.idleAdvances.WithLabelValues(w.name).Inc()
	}
	if w.publishData && c.hasData && c.dataTime > meta.DataTime {
		// at most once per tick: the relay sends it to every station partition
		meta.DataTime, meta.Mark, changed = c.dataTime, true, true
	}
	if changed {
		meta.LastTick = ctx.Offset()
		setValue(ctx, c, meta)
	}
	w.sweep(ctx, c)
	w.metrics.setOpen(w.name, p, c.index.len())
}
