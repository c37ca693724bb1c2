package processors

import (
	"github.com/lovoo/goka"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// maxCloseRows bounds the device rows one metadata write carries (about
// 60 bytes each with their station rollup, well under Kafka's default
// 1 MB record limit); an advance that closes more is written in steps,
// each a watermark with every close up to it. The windows of one close
// time are never split (at most one per device), so a station window's
// devices always close in one step and its rollup is whole.
const maxCloseRows = 4096

// advance is the one close mechanism: it moves the partition's watermark
// to target (when has) and closes, in the control key's writes, every
// window it reaches. The device rows and their station rollup
// (windows.RollUp) go in the metadata (wire.PartitionMeta.Closes and
// Stations), in the same record as the watermark that closed them, so
// all are durable together; the devices' own values are not rewritten
// (each reader catches a device up to the watermark, windows.Device.CatchUp).
// Devices close in the order of their next close; when the rows reach
// maxCloseRows and more are due, the watermark is written at the close
// time reached so far, and the rest follows in the next write. dirty says
// the metadata changed anyway (a source's mark, a tick).
func (w *stage) advance(ctx goka.Context, c *partClock, meta *wire.PartitionMeta, target int64, has, dirty bool) {
	if !has {
		if dirty {
			w.writeMeta(ctx, c, meta, nil)
		}
		return
	}
	if c.hasTime && target < c.streamTime {
		target = c.streamTime // never back; still close what is due
	}
	if at, ok := c.index.min(); ok && at <= target {
		// The closes are computed from the devices in memory: the
		// changelog gets first every held device with a reading in a
		// window this closes (a window with a reading at t ends after t,
		// so one that closes through target holds only readings before
		// target - grace), and before the closes change them: a device
		// value never says a window closed that the durable watermark
		// has not (writeBehind).
		c.wb.flushBefore(target - w.rules.Grace)
	}
	stamp := w.stamp()
	rows := c.rows[:0]
	defer func() {
		clear(rows) // keep the capacity, not the keys
		c.rows = rows[:0]
	}()
	for {
		at, ok := c.index.min()
		if !ok || at > target {
			break
		}
		before := len(rows) // rows[before:] close at at
		c.index.popDue(at, func(key string) {
			rows = w.closeKey(ctx, c, key, at, stamp, rows)
		})
		if before > 0 && len(rows) > maxCloseRows && (!c.hasTime || at-1 > c.streamTime) {
			// Everything closing before at is in rows[:before]: write it
			// as a step.
			c.advance(at - 1)
			w.writeMeta(ctx, c, meta, rows[:before])
			rows = append(rows[:0], rows[before:]...)
		}
	}
	advanced := c.advance(target)
	if advanced || dirty || len(rows) > 0 {
		w.writeMeta(ctx, c, meta, rows)
	}
	w.metrics.setOpen(w.name, ctx.Partition(), c.index.len())
}

// writeMeta writes the partition's metadata with the clock's watermark,
// the given device closes and their station rollup.
func (w *stage) writeMeta(ctx goka.Context, c *partClock, meta *wire.PartitionMeta, rows []windows.ClosedRow) {
	meta.StreamTime, meta.HasTime = c.streamTime, c.hasTime
	meta.Closes = rows
	meta.Stations = windows.RollUp(rows, schemas.RouteKey)
	setValue(ctx, c, meta)
	w.metrics.closed.Add(float64(len(rows)))
	meta.Closes, meta.Stations = nil, nil
}

// closeKey closes one device's windows through the given time inside the
// control key's callback and appends their rows for the metadata write to
// rows.
// The device's own value is not written: every reader catches it up the
// same way, and the decoded value kept in the memo is the caught-up one.
func (w *stage) closeKey(ctx goka.Context, c *partClock, key string, through int64, stamp windows.Stamp, rows []windows.ClosedRow) []windows.ClosedRow {
	st := w.load(ctx, c, key)
	if st == nil {
		return rows
	}
	o := st.Outbox
	if c.hasTime && through > c.streamTime {
		// What the watermark closed before this advance was published by
		// earlier writes (a value read from storage lags behind).
		st.CatchUp(w.rules, c.streamTime)
	}
	st.Outbox = windows.Outbox{}
	st.Close(w.rules, through, stamp)
	for _, r := range st.Outbox.Windows {
		rows = append(rows, windows.ClosedRow{Key: key, Division: st.Division, Row: r})
	}
	st.Outbox = o
	w.schedule(c, key, st)
	return rows
}
