package processors

import "github.com/lovoo/goka"

// devices is the device-windows group: a table keyed by device holding
// DeviceState, fed by the re-keyed readings.
type devices struct {
	*windowed
	topics Topics
}

func (d *devices) group(name string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(name),
		goka.Input(goka.Stream(d.topics.Readings), ReadingCodec{}, d.onReading),
		goka.Loop(LoopCodec{}, d.onLoop),
		goka.Persist(tableCodec{}),
	)
}

func (d *devices) onReading(ctx goka.Context, msg any) {
	if m, ok := msg.(*markMsg); ok {
		d.onMark(ctx, m)
		return
	}
	d.metrics.recordsIn.WithLabelValues(StageWindows).Inc()
	r := msg.(*Reading)
	c := d.clock(ctx)
	st, _ := value(ctx, c).(*DeviceState)
	if st == nil {
		st = newDeviceState()
	}
	if ctx.Offset() <= st.LastReading {
		// Redelivered after a crash or rebalance; the table (rebuilt from
		// the changelog after an unclean stop) already has its effect.
		d.metrics.replaySkipped.WithLabelValues(d.name).Inc()
		return
	}
	st.Outbox = outbox{}
	st.LastReading = ctx.Offset()
	stamp := d.stamp()
	// Too late: older than the watermark minus retention, or in a window
	// the device has already pruned (one rule: apply never sees a reading
	// it would have to ignore). Every reading ends applied, duplicate or
	// too late, each counted.
	if c.hasTime && r.T < c.streamTime-d.sem.Retention || st.expired(d.sem, r.T) {
		st.Outbox.Late = append(st.Outbox.Late, encodeReading(r, nil))
		d.metrics.late.Inc()
		d.metrics.outcomes.WithLabelValues(StageWindows, OutcomeLate).Inc()
	} else {
		dropped := st.Dropped
		res := st.apply(d.sem, devReading{T: r.T, Entries: r.Entries, Exits: r.Exits, ID: idHash(r.ID), Desc: r.Desc},
			[3]string{r.Station, r.LineName, r.Division}, stamp)
		if res == Duplicate {
			d.metrics.duplicates.Inc()
			d.metrics.outcomes.WithLabelValues(StageWindows, OutcomeDuplicate).Inc()
		} else {
			d.metrics.outcomes.WithLabelValues(StageWindows, OutcomeApplied).Inc()
		}
		if st.Dropped > dropped {
			d.metrics.droppedDeltas.Add(float64(st.Dropped - dropped))
		}
		c.seen(r.T)
	}
	// A reading for a window the watermark has already closed (a
	// correction, or a window's first reading arriving after its close)
	// closes this key's due windows now rather than through the loop.
	if at, ok := st.nextClose(d.sem); ok && at <= c.streamTime {
		st.close(d.sem, c.streamTime, stamp)
	}
	setValue(ctx, c, st)
	at, ok := st.nextClose(d.sem)
	c.index.set(ctx.Key(), at, ok)
}

func (d *devices) onLoop(ctx goka.Context, msg any) {
	switch m := msg.(type) {
	case tickMsg:
		d.onTick(ctx, m)
	case closeMsg:
		if d.isCtrl(ctx) {
			d.onClosed(ctx, m)
			return
		}
		c := d.clock(ctx)
		through, ok := d.through(c)
		if !ok {
			return
		}
		st, _ := value(ctx, c).(*DeviceState)
		if st == nil {
			return
		}
		if ctx.Offset() <= st.LastLoop {
			d.metrics.replaySkipped.WithLabelValues(d.name).Inc()
			return
		}
		st.Outbox = outbox{}
		if st.close(d.sem, through, d.stamp()) {
			st.LastLoop = ctx.Offset()
			setValue(ctx, c, st)
		}
		at, ok := st.nextClose(d.sem)
		c.index.set(ctx.Key(), at, ok)
	}
}
