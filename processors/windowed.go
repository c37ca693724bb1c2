package processors

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

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
// groups: per-partition watermarks merged from upstream marks and kept in
// the partition's metadata, closes sent through the loopback topic, ticks
// for rebuilt and idle partitions.
type windowed struct {
	name    string
	sem     *windows.Rules
	idle    time.Duration
	gen     int32
	tracker *storageTracker
	ctrl    []string // control key per partition
	log     *slog.Logger
	metrics *Metrics

	// sources is the number of upstream partitions whose marks make this
	// group's watermark (device group: input partitions; station group:
	// device partitions).
	sources int
	// stage is the device or station stage this machinery runs for; inline
	// is the same stage when it closes inline (the device stage).
	stage  keyStage
	inline inlineStage

	mu     sync.Mutex
	clocks map[int32]*partClock
}

// keyStage is what a windowed stage (devices, stations) brings to the
// shared machinery of this file.
type keyStage interface {
	// schedule indexes when a key needs its next close (the station stage
	// also its deletion past retention), from its decoded value.
	schedule(c *partClock, key string, v windows.Key)
}

// inlineStage is a keyStage that closes its windows inline, in the control
// key's callback (the device stage): the partition's closes then ride in
// the same write as the watermark that causes them
// (wire.PartitionMeta.Closes), with no loopback round trip, and once every
// source is idle, ticks move the watermark on to close the last windows
// with data. A stage that is not inline (the station stage) closes through
// the loopback topic and follows its upstream's closed marks.
type inlineStage interface {
	keyStage
	// closeKey closes one key's windows through a time and returns their
	// rows; it also re-indexes the key.
	closeKey(ctx goka.Context, c *partClock, key string, through int64, st windows.Stamp) []wire.ClosedRow
	// catchUp brings a decoded value up to the partition's watermark as
	// the closes already published it (rebuild uses it to index what is
	// still open).
	catchUp(v windows.Key, through int64)
}

// runs makes w the machinery of stage s.
func (w *windowed) runs(s keyStage) {
	w.stage = s
	w.inline, _ = s.(inlineStage)
}

func (w *windowed) stamp() windows.Stamp {
	return windows.Stamp{Now: time.Now().UnixMilli(), Gen: w.gen}
}

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
	var meta *wire.PartitionMeta
	if int(p) < len(w.ctrl) {
		b, err := cur.st.Get(w.ctrl[p])
		if err != nil {
			ctx.Fail(fmt.Errorf("processors: %s: partition %d: metadata: %w", w.name, p, err))
		}
		if b != nil {
			if meta, err = wire.DecodeMeta(b); err != nil {
				ctx.Fail(fmt.Errorf("processors: %s: partition %d: %w", w.name, p, err))
			}
		}
	}
	// A partition that closes inline has published every window its
	// watermark reached, in the metadata writes: its keys' own values lag
	// behind (nothing rewrites a key to close it) and are caught up here
	// as every reader catches them up.
	inlineThrough, inline := int64(0), false
	if w.inline != nil && meta != nil && meta.Inline && meta.HasTime {
		inlineThrough, inline = meta.StreamTime, true
	}
	for it.Next() {
		b, err := it.Value()
		if err != nil {
			ctx.Fail(fmt.Errorf("processors: %s: partition %d: %w", w.name, p, err))
		}
		v, err := wire.TableCodec{}.Decode(b)
		if err != nil {
			ctx.Fail(fmt.Errorf("processors: %s: partition %d key %q: %w", w.name, p, it.Key(), err))
		}
		keys++
		switch s := v.(type) {
		case *wire.PartitionMeta:
		case windows.Key:
			if inline {
				w.inline.catchUp(s, inlineThrough)
			}
			// A key's closes are written after the metadata that allowed
			// them, to the same changelog partition: they never outrun it.
			if t, ok := s.Through(); ok {
				c.advance(t)
			}
			if t, ok := s.Newest(); ok {
				c.seen(t)
			}
			w.stage.schedule(c, string(it.Key()), s)
		}
	}
	if err := it.Err(); err != nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d: iterate: %w", w.name, p, err))
	}
	if meta != nil {
		if meta.HasTime {
			c.advance(meta.StreamTime)
		}
	}
	w.log.Debug("partition clock rebuilt", "group", w.name, "partition", p, "keys", keys,
		"watermark", fmtTime(c.streamTime, c.hasTime), "open_keys", c.index.len(), "took", time.Since(start).Round(time.Millisecond))
	return c
}

func fmtTime(t int64, ok bool) string {
	if !ok {
		return "none"
	}
	return time.UnixMilli(t).UTC().Format(time.RFC3339)
}

// meta is the partition's metadata (the callback's key must be the
// partition's control key).
func (w *windowed) meta(ctx goka.Context, c *partClock) *wire.PartitionMeta {
	m, _ := value(ctx, c).(*wire.PartitionMeta)
	if m == nil {
		m = wire.NewPartitionMeta(w.sources)
	}
	m.Sources.N = w.sources
	return m
}

// isCtrl says whether the callback's key is its partition's control key.
func (w *windowed) isCtrl(ctx goka.Context) bool {
	p := ctx.Partition()
	return int(p) < len(w.ctrl) && ctx.Key() == w.ctrl[p]
}

// sweep asks every key whose windows the watermark has closed (or that is
// past retention) to close them, through the loopback topic: goka only
// lets a callback write its own key (the station group; the device group
// closes inline, advanceInline).
func (w *windowed) sweep(ctx goka.Context, c *partClock) {
	c.due(func(key string) {
		ctx.Loopback(key, wire.Close{Through: c.streamTime})
		w.metrics.closesSent.WithLabelValues(w.name).Inc()
	})
	w.metrics.setOpen(w.name, ctx.Partition(), c.index.len())
}

// through is how far a close request closes a key: through the
// receiver's own watermark, whatever the request says. A request sent at
// an earlier watermark closes everything due by now (the key would
// otherwise stay due until the next sweep), and one sent by a previous
// owner whose watermark write never became durable cannot close early.
func (w *windowed) through(c *partClock) (int64, bool) { return c.streamTime, c.hasTime }

// onMark applies an upstream partition's mark on the control key: the
// watermark is the merge of every source's marks, recorded in the
// partition metadata before any close it causes is sent.
func (w *windowed) onMark(ctx goka.Context, m *wire.Mark) {
	if !w.isCtrl(ctx) {
		return // for another partition count; ignore
	}
	c := w.clock(ctx)
	meta := w.meta(ctx, c)
	if ctx.Offset() <= meta.LastInput {
		w.metrics.replaySkipped.WithLabelValues(w.name).Inc()
		return
	}
	changed := meta.Sources.Observe(m.Source, m.Watermark())
	if w.inline != nil {
		if changed {
			meta.LastInput = ctx.Offset()
		}
		prog := meta.Sources.Progress()
		w.advanceInline(ctx, c, meta, prog.Time, prog.Has, changed)
		w.metrics.setWatermark(w.name, ctx.Partition(), c, prog)
		return
	}
	if prog := meta.Sources.Progress(); prog.Has && c.advance(prog.Time) {
		changed = true
	}
	if changed {
		meta.LastInput = ctx.Offset()
		meta.StreamTime, meta.HasTime = c.streamTime, c.hasTime
		meta.Mark = false
		setValue(ctx, c, meta)
	}
	w.metrics.setWatermark(w.name, ctx.Partition(), c, meta.Sources.Progress())
	w.sweep(ctx, c)
}

// onTick handles a tick on a partition's control key: it lets a freshly
// rebuilt partition close what became due while nobody was processing it,
// and, in a group with idle advance, moves the watermark of a partition
// whose sources are all idle on to close its last windows.
func (w *windowed) onTick(ctx goka.Context, m wire.Tick) {
	if !w.isCtrl(ctx) {
		return // a tick for another partition count; ignore
	}
	c := w.clock(ctx)
	if w.inline != nil && w.idle > 0 {
		meta := w.meta(ctx, c)
		prog := meta.Sources.Progress()
		if ctx.Offset() > meta.LastTick && prog.AllIdle && prog.Has {
			if t := w.sem.IdleTarget(prog.Time, m.Wall); !c.hasTime || t > c.streamTime {
				meta.LastTick = ctx.Offset()
				w.advanceInline(ctx, c, meta, t, true, true)
				w.metrics.idleAdvances.WithLabelValues(w.name).Inc()
				w.metrics.setWatermark(w.name, ctx.Partition(), c, prog)
			}
		}
	}
	if w.inline != nil {
		if c.hasTime {
			if at, ok := c.index.min(); ok && at <= c.streamTime {
				// Still due after a rebuild from a loopback-era partition
				// (its closes were in flight): publish them now.
				w.advanceInline(ctx, c, w.meta(ctx, c), c.streamTime, true, false)
			}
		}
		return
	}
	w.sweep(ctx, c)
}

// maxCloseRows bounds the rows one metadata write carries (about 100 bytes
// each, well under Kafka's default 1 MB record limit); an advance that
// closes more is written in steps, each a watermark with every close up to
// it. The windows of one close time are never split (at most one per key).
const maxCloseRows = 4096

// advanceInline moves the partition's watermark to target (when has) and
// closes, in the control key's writes, every window it reaches: the rows
// go in wire.PartitionMeta.Closes, in the same record as the watermark that
// closed them, and the record sets Mark so the relay passes the new Closed
// on after publishing them. Keys close in the order of their next close;
// when the rows reach maxCloseRows and more are due, the watermark is
// written at the close time reached so far, and the rest follows in the
// next write. dirty says the metadata changed anyway (a source's mark).
func (w *windowed) advanceInline(ctx goka.Context, c *partClock, meta *wire.PartitionMeta, target int64, has, dirty bool) {
	if !has {
		if dirty {
			w.writeMeta(ctx, c, meta, nil, false)
		}
		return
	}
	if c.hasTime && target < c.streamTime {
		target = c.streamTime // never back; still sweep what is due
	}
	stamp := w.stamp()
	var rows []wire.ClosedRow
	for {
		at, ok := c.index.min()
		if !ok || at > target {
			break
		}
		var group []wire.ClosedRow
		c.index.popDue(at, func(key string) {
			group = append(group, w.inline.closeKey(ctx, c, key, at, stamp)...)
			w.metrics.closesSent.WithLabelValues(w.name).Inc()
		})
		if len(rows) > 0 && len(rows)+len(group) > maxCloseRows && (!c.hasTime || at-1 > c.streamTime) {
			// Everything closing before at is in rows: write it as a step.
			c.advance(at - 1)
			w.writeMeta(ctx, c, meta, rows, true)
			rows = nil
		}
		rows = append(rows, group...)
	}
	advanced := c.advance(target)
	if advanced || dirty || len(rows) > 0 || !meta.Inline {
		w.writeMeta(ctx, c, meta, rows, advanced || len(rows) > 0)
	}
	w.metrics.setOpen(w.name, ctx.Partition(), c.index.len())
}

// writeMeta writes the partition's metadata with the clock's watermark and
// the given closes; closed says the write publishes a new Closed.
func (w *windowed) writeMeta(ctx goka.Context, c *partClock, meta *wire.PartitionMeta, rows []wire.ClosedRow, closed bool) {
	meta.StreamTime, meta.HasTime = c.streamTime, c.hasTime
	meta.Inline = true
	meta.Closes = rows
	meta.Mark = closed && c.hasTime
	if meta.Mark {
		meta.Closed, meta.HasClosed = c.streamTime, true
	}
	setValue(ctx, c, meta)
	meta.Closes = nil
}
