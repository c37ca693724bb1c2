package processors

import (
	"fmt"

	"github.com/lovoo/goka"

	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// devices is the device-windows group: a table keyed by device holding
// windows.Device, fed by the re-keyed readings.
type devices struct {
	*windowed
	topics Topics
}

func (d *devices) group(name string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(name),
		goka.Input(goka.Stream(d.topics.Readings), wire.ReadingCodec{}, d.onReading),
		goka.Loop(wire.LoopCodec{}, d.onLoop),
		goka.Persist(wire.TableCodec{}),
	)
}

func (d *devices) onReading(ctx goka.Context, msg any) {
	if m, ok := msg.(*wire.Mark); ok {
		d.onMark(ctx, m)
		return
	}
	d.metrics.recordsIn.WithLabelValues(StageWindows).Inc()
	r := msg.(*wire.Reading)
	c := d.clock(ctx)
	st, _ := value(ctx, c).(*windows.Device)
	if st == nil {
		st = windows.NewDevice()
	}
	if ctx.Offset() <= st.LastReading {
		// Redelivered after a crash or rebalance; the table (rebuilt from
		// the changelog after an unclean stop) already has its effect.
		d.metrics.replaySkipped.WithLabelValues(d.name).Inc()
		return
	}
	st.Outbox = windows.Outbox{}
	st.LastReading = ctx.Offset()
	stamp := d.stamp()
	d.catchUpKey(c, ctx.Key(), st, stamp)
	// Too late: older than the watermark minus retention, or in a window
	// the device has already pruned (one rule: apply never sees a reading
	// it would have to ignore). Every reading ends applied, duplicate or
	// too late, each counted.
	if c.hasTime && r.T < c.streamTime-d.sem.Retention || st.Expired(d.sem, r.T) {
		st.Outbox.Late = append(st.Outbox.Late, wire.EncodeReading(r, nil))
		d.metrics.late.Inc()
		d.metrics.outcomes.WithLabelValues(StageWindows, outcomeLate).Inc()
	} else {
		dropped := st.Dropped
		applied := st.Apply(d.sem, windows.Reading{T: r.T, Entries: r.Entries, Exits: r.Exits, ID: wire.IDHash(r.ID), Desc: r.Desc},
			[3]string{r.Station, r.LineName, r.Division}, stamp)
		if !applied {
			d.metrics.duplicates.Inc()
			d.metrics.outcomes.WithLabelValues(StageWindows, outcomeDuplicate).Inc()
		} else {
			d.metrics.outcomes.WithLabelValues(StageWindows, outcomeApplied).Inc()
		}
		if st.Dropped > dropped {
			d.metrics.droppedDeltas.Add(float64(st.Dropped - dropped))
		}
		c.seen(r.T)
	}
	// A reading for a window the watermark has already closed is a
	// correction, or a window's first reading arriving after its close:
	// apply published it (closed() is true for it after the catch-up).
	setValue(ctx, c, st)
	d.schedule(c, ctx.Key(), st)
}

func (d *devices) onLoop(ctx goka.Context, msg any) {
	switch m := msg.(type) {
	case wire.Tick:
		d.onTick(ctx, m)
	case wire.Close:
		// Written by the loopback design (before closes went into the
		// control key's writes): a close still due is published by the
		// partition's next sweep, so the request itself changes nothing.
	}
}

// catchUpKey brings a key's value up to the partition's watermark. Its
// windows that the watermark closed were published by the sweep that
// advanced it (in the control key's write), so this records them as
// published, silently. A key the index still holds as due (closes in
// flight from the loopback design, after an upgrade) has not been swept:
// it is closed here, its rows in its own outbox, and leaves the index.
func (d *devices) catchUpKey(c *partClock, key string, st *windows.Device, stamp windows.Stamp) {
	if !c.hasTime {
		return
	}
	if at, ok := c.index.get(key); ok && at <= c.streamTime {
		st.Close(d.sem, c.streamTime, stamp)
		c.index.set(key, 0, false)
		return
	}
	st.CatchUp(d.sem, c.streamTime)
}

// closeKey closes one device's windows through the given time inside the
// control key's callback and returns their rows for the metadata write
// (windowed.closeKey). The device's own value is not written: every reader
// catches it up the same way (catchUpKey, windowed.catchUp), and the
// decoded value kept in the memo is the caught-up one.
func (d *devices) closeKey(ctx goka.Context, c *partClock, key string, through int64, stamp windows.Stamp) []wire.ClosedRow {
	st := d.load(ctx, c, key)
	if st == nil {
		return nil
	}
	o := st.Outbox
	if c.hasTime && through > c.streamTime {
		// What the watermark closed before this advance was published by
		// earlier sweeps (a value read from storage lags behind).
		st.CatchUp(d.sem, c.streamTime)
	}
	st.Outbox = windows.Outbox{}
	st.Close(d.sem, through, stamp)
	var rows []wire.ClosedRow
	for _, w := range st.Outbox.Windows {
		rows = append(rows, wire.ClosedRow{Key: key, Station: st.Station, Line: st.Line, Division: st.Division, Row: w})
	}
	st.Outbox = o
	d.schedule(c, key, st)
	return rows
}

// load is another key's decoded value in the partition's callback: the
// memo's, or the partition's open storage's.
func (d *devices) load(ctx goka.Context, c *partClock, key string) *windows.Device {
	if v, ok := c.memo.get(key); ok {
		st, _ := v.(*windows.Device)
		return st
	}
	cur := d.tracker.current(ctx.Partition())
	if cur.st == nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d has no open storage", d.name, ctx.Partition()))
	}
	b, err := cur.st.Get(key)
	stopIfDone(ctx)
	if err != nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d key %q: %w", d.name, ctx.Partition(), key, err))
	}
	if b == nil {
		return nil
	}
	st, err := wire.DecodeDevice(b)
	if err != nil {
		ctx.Fail(fmt.Errorf("processors: %s: partition %d key %q: %w", d.name, ctx.Partition(), key, err))
	}
	c.memo.put(key, st)
	return st
}

// schedule indexes when the device next needs a close.
func (d *devices) schedule(c *partClock, key string, v windows.Key) {
	at, ok := v.NextClose(d.sem)
	c.index.set(key, at, ok)
}

// catchUp brings a device value up to the partition's watermark (see
// inlineStage).
func (d *devices) catchUp(v windows.Key, through int64) {
	if st, ok := v.(*windows.Device); ok {
		st.CatchUp(d.sem, through)
	}
}
