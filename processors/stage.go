package processors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"

	"github.com/turnstile-streams/turnstile/schemas"
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

// stage is the windowed stage: one goka group whose table holds, under
// each device's reading key (STATION|LINENAME|CA|UNIT|SCP), its
// windows.Device, and under each partition's control key the partition's
// metadata (wire.PartitionMeta). Every device of a station is on one
// partition, so the station rollup happens here too, in the same writes:
//
//   - a reading (re-keyed by the ingest stage) is applied to its device;
//     a correction of a closed window corrects its station window from the
//     station's devices, in the device's write (onReading);
//   - the input partitions' watermark marks are merged on the control key,
//     and a higher watermark is written in one record with the first
//     revision of every device and station window it closes (onMark,
//     advance in closes.go);
//   - ticks move the watermark on once every source is idle (onTick).
type stage struct {
	name    string // the goka group
	rules   *windows.Rules
	idle    time.Duration
	gen     int32
	topics  Topics
	tracker *storageTracker
	ctrl    []string // control key per partition
	log     *slog.Logger
	metrics *Metrics
	// sources is the number of input partitions, each a watermark source.
	sources int
	// direct: the stage reads the input topic itself (in, the intake over
	// it) and re-keys to the readings topic only the readings not in place
	// (Topology).
	direct bool
	in     *intake
	// drift is watermark alignment's drift (ms of event time) and pauser
	// what pauses the input partitions; nil: no alignment (stage.align).
	drift  int64
	pauser inputPauser
	// count are its per-record counters (Metrics.stageCounters), set
	// before the stage runs.
	count stageCounters
	// now is the wall clock (nil: time.Now; tests set their own).
	now wallClock
	// writeBehind is how many devices a partition holds written only in
	// memory (Config.WriteBehindKeys; <= 0: none) and out where they are
	// written: the changelog through the running processor's producer,
	// set when goka builds it (writeBehind).
	writeBehind int
	out         atomic.Pointer[changelogOut]

	mu     sync.Mutex
	clocks map[int32]*partClock
}

func (w *stage) group() *goka.GroupGraph {
	readings := goka.Input(goka.Stream(w.topics.Readings), wire.ReadingCodec{}, w.held(w.onReading))
	edges := []goka.Edge{readings}
	if w.direct {
		edges = []goka.Edge{goka.Input(goka.Stream(w.topics.Input), new(codec.Bytes), w.held(w.onInput)), readings,
			goka.Output(goka.Stream(w.topics.Readings), wire.ReadingCodec{}),
			goka.Output(goka.Stream(w.topics.DeadLetters), new(codec.Bytes))}
	}
	edges = append(edges, goka.Loop(wire.LoopCodec{}, w.held(w.onLoop)), goka.Persist(wire.TableCodec{}))
	return goka.DefineGroup(goka.Group(w.name), edges...)
}

// setOut sets where held devices are written.
func (w *stage) setOut(out changelogOut) { w.out.Store(&out) }

// held runs a callback under its partition's write-behind lock
// (writeBehind.enter), when the stage holds writes back. A callback that
// does not return (a panic: goka stopped or failed the partition) abandons
// what the partition holds before the lock is released, so goka's stop
// hook (rebuild) cannot write a device the callback left half changed.
func (w *stage) held(cb goka.ProcessCallback) goka.ProcessCallback {
	if w.writeBehind <= 0 {
		return cb
	}
	return func(ctx goka.Context, msg any) {
		wb := &w.clock(ctx).wb
		defer wb.enter(ctx)()
		finished := false
		defer func() {
			if !finished {
				wb.abandon() // the panic goes on to goka, its stack intact
			}
		}()
		cb(ctx, msg)
		finished = true
	}
}

// flushHeld writes every device the callback's partition holds
// (writeBehind.flush).
func (w *stage) flushHeld(ctx goka.Context) { w.clock(ctx).wb.flush() }

// onInput takes an input record (the direct layout): the intake decodes and
// validates it; a reading already on its partition with its reading key is
// applied here, in place, any other is re-keyed to its partition through
// the readings topic. Then the partition's source mark, when one is due,
// once the writes it covers are acknowledged (intake.mark).
func (w *stage) onInput(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	src := w.in.source(ctx.Partition())
	if w.in.decode(ctx, raw, &src.reading) {
		w.input(ctx, src, &src.reading)
	}
	w.in.consumed(ctx, src)
}

// input takes a decoded, valid reading from the input partition of src
// (usually src's own, which its next record reuses).
func (w *stage) input(ctx goka.Context, src *source, rd *wire.Reading) {
	now := w.in.wall()
	w.in.announce(ctx, src, now) // rejoin the receivers' minimum before the reading
	if key := ctx.Key(); rd.HasKey(key) && schemas.Partition(key, len(w.ctrl)) == ctx.Partition() {
		w.metrics.inPlace.Inc()
		w.count.in.Inc()
		w.apply(ctx, rd, true)
	} else {
		w.in.rekey(ctx, rd)
	}
	w.in.observe(ctx, src, rd.T, now)
}

func (w *stage) stamp() windows.Stamp {
	return windows.Stamp{Now: time.Now().UnixMilli(), Gen: w.gen}
}

// clock returns the partition's clock, rebuilding it from the local table
// if goka opened the partition's storage since it was built.
func (w *stage) clock(ctx goka.Context) *partClock {
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

// rebuild builds a partition's clock from its local table: the watermark
// from its metadata, and every device caught up to it (nothing rewrites a
// device to close its windows: the closes are in the metadata writes),
// indexed by its next close and by its station.
func (w *stage) rebuild(ctx goka.Context, p int32, cur trackedStorage) *partClock {
	start := time.Now()
	c := newPartClock(cur.gen)
	c.align.Drift = w.drift
	if w.writeBehind > 0 {
		c.wb = writeBehind{keys: w.writeBehind, store: cur.st}
		if out := w.out.Load(); out != nil {
			c.wb.out = *out
		}
		// goka stops a partition by cancelling its context, then waits for
		// the records in flight (the deferred ones too) before it closes
		// the storage and commits for the last time: write what is held.
		context.AfterFunc(ctx.Context(), c.wb.flushNow)
	}
	fail := func(format string, args ...any) {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d: "+format, append([]any{w.name, p}, args...)...))
	}
	if cur.st == nil {
		fail("no open storage")
	}
	if int(p) < len(w.ctrl) {
		b, err := cur.st.Get(w.ctrl[p])
		if err != nil {
			fail("metadata: %w", err)
		}
		if b != nil {
			meta, err := wire.DecodeMeta(b)
			if err != nil {
				fail("%w", err)
			}
			if meta.HasTime {
				c.advance(meta.StreamTime)
			}
		}
	}
	it, err := cur.st.Iterator()
	if err != nil {
		fail("iterate: %w", err)
	}
	defer it.Release()
	keys := 0
	for it.Next() {
		key := string(it.Key())
		if int(p) < len(w.ctrl) && key == w.ctrl[p] {
			continue
		}
		b, err := it.Value()
		if err != nil {
			fail("%w", err)
		}
		d, err := wire.DecodeDevice(b)
		if err != nil {
			fail("key %q: %w", key, err)
		}
		keys++
		if c.hasTime {
			d.CatchUp(w.rules, c.streamTime)
		}
		if t, ok := d.Newest(); ok {
			c.seen(t)
		}
		c.addDevice(key)
		w.schedule(c, key, d)
	}
	if err := it.Err(); err != nil {
		fail("iterate: %w", err)
	}
	w.log.Debug("partition clock rebuilt", "group", w.name, "partition", p, "devices", keys,
		"watermark", fmtTime(c.streamTime, c.hasTime), "open_devices", c.index.len(), "took", time.Since(start).Round(time.Millisecond))
	return c
}

func fmtTime(t int64, ok bool) string {
	if !ok {
		return "none"
	}
	return time.UnixMilli(t).UTC().Format(time.RFC3339)
}

// isCtrl says whether the callback's key is its partition's control key.
func (w *stage) isCtrl(ctx goka.Context) bool {
	p := ctx.Partition()
	return int(p) < len(w.ctrl) && ctx.Key() == w.ctrl[p]
}

// meta is the partition's metadata (the callback's key must be the
// partition's control key).
func (w *stage) meta(ctx goka.Context, c *partClock) *wire.PartitionMeta {
	m, _ := value(ctx, c).(*wire.PartitionMeta)
	if m == nil {
		m = wire.NewPartitionMeta(w.sources)
	}
	m.Sources.N = w.sources
	return m
}

func (w *stage) onReading(ctx goka.Context, msg any) {
	switch m := msg.(type) {
	case *wire.Mark:
		w.onMark(ctx, m)
	case *wire.Reading:
		w.count.in.Inc()
		w.apply(ctx, m, false)
	}
}

// apply applies a reading to its device (the callback's key), from the
// input topic in place or from the readings topic. Every reading ends
// applied, a duplicate or too late, each counted; a reading redelivered
// after a crash or rebalance is skipped by its offset on its topic (the
// table, rebuilt from the changelog after an unclean stop, already has its
// effect).
func (w *stage) apply(ctx goka.Context, r *wire.Reading, inPlace bool) {
	c := w.clock(ctx)
	key := ctx.Key()
	st, _ := value(ctx, c).(*windows.Device)
	isNew := st == nil
	if isNew {
		st = windows.NewDevice()
	}
	last := &st.LastReading
	if inPlace {
		last = &st.LastInput
	}
	if ctx.Offset() <= *last {
		w.count.skipped.Inc()
		return
	}
	if _, held := c.wb.get(key); !held {
		st.Outbox = windows.Outbox{} // a held device keeps its rows until they are written
	}
	*last = ctx.Offset()
	if c.hasTime {
		// What the watermark closed was published by the metadata write
		// that advanced it: record it, silently.
		st.CatchUp(w.rules, c.streamTime)
	}
	stations := len(st.Outbox.Stations)
	if w.rules.TooLate(c.streamTime, c.hasTime, st, r.T) {
		st.Outbox.Late = append(st.Outbox.Late, wire.EncodeReading(r, nil))
		w.metrics.late.Inc()
		w.count.late.Inc()
	} else {
		dropped := st.Dropped
		applied := st.Apply(w.rules, windows.Reading{T: r.T, Entries: r.Entries, Exits: r.Exits, ID: wire.IDHash(r.ID), Desc: r.Desc},
			r.Division, w.stamp(), peers{w: w, ctx: ctx, c: c, key: key})
		if applied {
			w.count.applied.Inc()
		} else {
			w.metrics.duplicates.Inc()
			w.count.duplicate.Inc()
		}
		if st.Dropped > dropped {
			w.metrics.droppedDeltas.Add(float64(st.Dropped - dropped))
		}
		c.seen(r.T)
	}
	if c.wb.enabled() {
		c.wb.put(ctx, key, st, r.T)
		c.memo.put(key, st)
		switch {
		case len(st.Outbox.Stations) > stations:
			// A station correction read the station's other devices.
			c.wb.flushLast(key)
		case c.wb.full():
			c.wb.flush()
		}
	} else {
		setValue(ctx, c, st)
	}
	if isNew {
		c.addDevice(key)
	}
	w.schedule(c, key, st)
}

// peers are the other devices of a device's station, read in the device's
// callback from the partition's memo or storage and caught up to the
// partition's watermark (windows.Peers).
type peers struct {
	w   *stage
	ctx goka.Context
	c   *partClock
	key string
}

func (p peers) EachPeer(fn func(*windows.Device)) {
	st, _, _ := schemas.SplitReadingKey(p.key)
	for _, k := range p.c.stations[st] {
		if k == p.key {
			continue
		}
		if d := p.w.load(p.ctx, p.c, k); d != nil {
			if p.c.hasTime {
				d.CatchUp(p.w.rules, p.c.streamTime)
			}
			fn(d)
		}
	}
}

// load is another key's decoded value in the partition's callback: the
// memo's, or the partition's open storage's.
func (w *stage) load(ctx goka.Context, c *partClock, key string) *windows.Device {
	if v, ok := c.memo.get(key); ok {
		st, _ := v.(*windows.Device)
		return st
	}
	if d, ok := c.wb.get(key); ok {
		return d
	}
	cur := w.tracker.current(ctx.Partition())
	if cur.st == nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d has no open storage", w.name, ctx.Partition()))
	}
	b, err := cur.st.Get(key)
	stopIfDone(ctx)
	if err != nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d key %q: %w", w.name, ctx.Partition(), key, err))
	}
	if b == nil {
		return nil
	}
	st, err := wire.DecodeDevice(b)
	if err != nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d key %q: %w", w.name, ctx.Partition(), key, err))
	}
	c.memo.put(key, st)
	return st
}

// acked is how many table writes the partition's store took and how many
// the changelog acknowledged (intake.acked): a source mark waits for the
// writes of the readings it covers that were applied in place.
func (w *stage) acked(ctx goka.Context) ackPoint {
	st, ok := w.tracker.current(ctx.Partition()).st.(interface{ Acknowledged() (int64, int64) })
	if !ok {
		return ackPoint{} // a storage that acknowledges at once (tests)
	}
	written, acked := st.Acknowledged()
	return ackPoint{written, acked}
}

// schedule indexes when the device next needs a close.
func (w *stage) schedule(c *partClock, key string, d *windows.Device) {
	at, ok := d.NextClose(w.rules)
	c.index.set(key, at, ok)
}

func (w *stage) onLoop(ctx goka.Context, msg any) {
	switch m := msg.(type) {
	case wire.Tick:
		// A tick writes what the partition holds, so a quiet partition's
		// records commit within a tick.
		w.flushHeld(ctx)
		if w.direct && w.isCtrl(ctx) {
			w.in.tick(ctx, m)
		}
		w.onTick(ctx, m)
	case wire.Ignored:
		w.metrics.loopIgnored.Inc()
	}
}

// onMark applies an input partition's mark on the control key: the
// watermark is the merge of every source's marks, and an advance closes
// what it reaches in the same metadata write.
func (w *stage) onMark(ctx goka.Context, m *wire.Mark) {
	if !w.isCtrl(ctx) {
		return // for another partition count; ignore
	}
	c := w.clock(ctx)
	meta := w.meta(ctx, c)
	if ctx.Offset() <= meta.LastInput {
		w.count.skipped.Inc()
		return
	}
	changed := meta.Sources.Observe(m.Source, m.Watermark())
	if changed {
		meta.LastInput = ctx.Offset()
	}
	prog := c.gate.Progress(&meta.Sources)
	w.advance(ctx, c, meta, prog.Time, prog.Has, changed)
	w.metrics.setWatermark(w.name, ctx.Partition(), c, prog)
	w.align(ctx, c, meta, prog)
	if changed && prog.AllIdle && w.idle > 0 {
		// The last source went idle: the idle advance (onTick) need not
		// wait for the next tick.
		w.nudge(ctx)
	}
}

// nudge asks for a tick on the callback's partition now: a tick of the
// stage's own, with no lag measured, through the loopback topic, so that
// it is applied in order with the partition's other records and at most
// once, as the ticker's are.
func (w *stage) nudge(ctx goka.Context) {
	ctx.Loopback(w.ctrl[ctx.Partition()], wire.Tick{Wall: w.wall().UnixMilli()})
	w.metrics.nudges.Inc()
}

// onTick handles a tick on a partition's control key: once every source
// is idle, it moves the watermark on (windows.Rules.IdleTarget) to close
// the last windows with data.
func (w *stage) onTick(ctx goka.Context, m wire.Tick) {
	if !w.isCtrl(ctx) || w.idle <= 0 {
		return // a tick for another partition count, or idleness is off
	}
	c := w.clock(ctx)
	meta := w.meta(ctx, c)
	// The tick says which sources have input: the gate may now let the
	// watermark past sources that are idle (watermark.Gate).
	c.gate.Tick(&meta.Sources, m.Wall, w.wall().UnixMilli(), m.Lagging, m.LagKnown)
	prog := c.gate.Progress(&meta.Sources)
	defer w.metrics.setWatermark(w.name, ctx.Partition(), c, prog)
	w.align(ctx, c, meta, prog)
	if !prog.Has || c.hasTime && prog.Time <= c.streamTime && !prog.AllIdle {
		return
	}
	if !prog.AllIdle {
		w.advance(ctx, c, meta, prog.Time, true, false)
		return
	}
	// Every source is idle: move on to close the last windows with data.
	if ctx.Offset() <= meta.LastTick {
		return
	}
	// The newest data is the greatest time a source reported or, if
	// later, the newest reading this partition holds: a member that stops
	// after committing its last input but before sending the marks that
	// carry its time leaves the next owner's sources without it (they
	// start afresh and see no more input), and the last windows would
	// never close. Every source being idle, every reading bound for this
	// partition is here: its idle mark came after them.
	newest := prog.Time
	if c.hasNewest && c.newest > newest {
		newest = c.newest
	}
	if t := w.rules.IdleTarget(newest, m.Wall); !c.hasTime || t > c.streamTime {
		meta.LastTick = ctx.Offset()
		w.advance(ctx, c, meta, t, true, true)
		w.metrics.idleAdvances.WithLabelValues(w.name).Inc()
	}
}

// wall is the stage's wall clock.
func (w *stage) wall() time.Time { return w.now.wall() }

// wallClock is a wall clock a test can set; nil is time.Now.
type wallClock func() time.Time

func (c wallClock) wall() time.Time {
	if c != nil {
		return c()
	}
	return time.Now()
}
