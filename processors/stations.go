package processors

import (
	"github.com/lovoo/goka"

	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// stations is the station-windows group: a table keyed by station window
// (STATION|LINENAME|START) rolling up published device window revisions.
// One key per window keeps every table write small whatever the
// retention; a key is deleted once its window is past retention.
type stations struct {
	*windowed
	topics Topics
}

func (s *stations) group(name string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(name),
		goka.Input(goka.Stream(s.topics.StationUpdates), wire.UpdatesCodec{}, s.onRow),
		goka.Loop(wire.LoopCodec{}, s.onLoop),
		goka.Persist(wire.TableCodec{}),
	)
}

func (s *stations) onRow(ctx goka.Context, msg any) {
	if m, ok := msg.(*wire.Mark); ok {
		s.onMark(ctx, m)
		return
	}
	rows, ok := msg.(windows.DeviceRows)
	if !ok {
		rows = windows.DeviceRows{msg.(*windows.DeviceRow)}
	}
	s.metrics.recordsIn.WithLabelValues(StageStations).Add(float64(len(rows)))
	c := s.clock(ctx)
	st, _ := value(ctx, c).(*windows.Station)
	if st == nil {
		st = windows.NewStation()
	}
	if ctx.Offset() <= st.LastUpdate {
		s.metrics.replaySkipped.WithLabelValues(s.name).Inc()
		return
	}
	// Rows of one record are of one station window (the relay groups them
	// by key).
	if r := rows[0]; c.hasTime && r.End+s.sem.Grace+s.sem.Retention <= c.streamTime {
		// The window is past retention by the watermark (its key may
		// already be deleted): only a redelivered revision can be this old,
		// and it must not recreate the key.
		s.metrics.stationExpired.Add(float64(len(rows)))
		return
	}
	st.Outbox = windows.Outbox{}
	st.LastUpdate = ctx.Offset()
	stamp := s.stamp()
	for _, r := range rows {
		expired := st.Expired
		st.Apply(s.sem, r, stamp)
		if st.Expired > expired {
			s.metrics.stationExpired.Inc()
		} else {
			c.seen(r.End)
		}
	}
	if at, ok := st.NextClose(s.sem); ok && at <= c.streamTime {
		st.Close(s.sem, c.streamTime, stamp)
	}
	setValue(ctx, c, st)
	s.schedule(c, ctx.Key(), st)
}

// schedule indexes the key's next window close or, once its window closed,
// its deletion past retention, both by the partition's watermark.
func (s *stations) schedule(c *partClock, key string, v windows.Key) {
	st, ok := v.(*windows.Station)
	if !ok {
		return
	}
	if at, ok := st.NextClose(s.sem); ok {
		c.index.set(key, at, true)
		c.expiries.set(key, 0, false)
		return
	}
	c.index.set(key, 0, false)
	del, ok := s.nextAction(st)
	c.expiries.set(key, del, ok)
}

// nextAction is when the key next needs a close: its window's close, or,
// once closed, the end of its retention, when the key is deleted.
func (s *stations) nextAction(st *windows.Station) (int64, bool) {
	if at, ok := st.NextClose(s.sem); ok {
		return at, true
	}
	if len(st.Windows) == 0 {
		return 0, false
	}
	return st.Windows[len(st.Windows)-1].End + s.sem.Grace + s.sem.Retention, true
}

func (s *stations) onLoop(ctx goka.Context, msg any) {
	switch m := msg.(type) {
	case wire.Tick:
		s.onTick(ctx, m)
	case wire.Close:
		c := s.clock(ctx)
		through, ok := s.through(c)
		if !ok {
			return
		}
		st, _ := value(ctx, c).(*windows.Station)
		if st == nil {
			return
		}
		if ctx.Offset() <= st.LastLoop {
			s.metrics.replaySkipped.WithLabelValues(s.name).Inc()
			return
		}
		st.Outbox = windows.Outbox{}
		if del, ok := s.nextAction(st); ok && st.HasClosed && del <= through {
			if _, open := st.NextClose(s.sem); !open {
				deleteValue(ctx, c) // past retention: bounded state
				c.index.set(ctx.Key(), 0, false)
				c.expiries.set(ctx.Key(), 0, false)
				return
			}
		}
		if st.Close(s.sem, through, s.stamp()) {
			st.LastLoop = ctx.Offset()
			setValue(ctx, c, st)
		}
		s.schedule(c, ctx.Key(), st)
	}
}
