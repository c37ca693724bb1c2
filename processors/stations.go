package processors

import (
	"time"

	"github.com/lovoo/goka"
)

// stations is the station-windows group: a table keyed by station
// (STATION|LINENAME) rolling up published device window revisions.
type stations struct {
	*windowed
	topics Topics
}

func (s *stations) group(name string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(name),
		goka.Input(goka.Stream(s.topics.StationUpdates), DeviceRowCodec{}, s.onRow),
		goka.Loop(LoopCodec{}, s.onLoop),
		goka.Persist(tableCodec{}),
	)
}

func (s *stations) onRow(ctx goka.Context, msg any) {
	s.metrics.recordsIn.WithLabelValues(StageStations).Inc()
	r := msg.(*deviceRow)
	c := s.clock(ctx)
	c.lastActivity = time.Now()
	st, _ := ctx.Value().(*StationState)
	if st == nil {
		st = newStationState()
	}
	if ctx.Offset() <= st.LastUpdate {
		s.metrics.replaySkipped.WithLabelValues(s.name).Inc()
		return
	}
	st.Outbox = outbox{}
	st.LastUpdate = ctx.Offset()
	stamp := s.stamp()
	expired := st.Expired
	st.apply(s.sem, r, stamp)
	if st.Expired > expired {
		s.metrics.stationExpired.Inc()
	} else {
		c.observe(r.End)
	}
	if at, ok := st.nextClose(s.sem); ok && at <= c.streamTime {
		st.close(s.sem, c.streamTime, stamp)
	}
	ctx.SetValue(st)
	at, ok := st.nextClose(s.sem)
	c.index.set(ctx.Key(), at, ok)
	s.sweep(ctx, c)
}

func (s *stations) onLoop(ctx goka.Context, msg any) {
	switch m := msg.(type) {
	case tickMsg:
		s.onTick(ctx, m)
	case closeMsg:
		c := s.clock(ctx)
		st, _ := ctx.Value().(*StationState)
		if st == nil {
			return
		}
		if ctx.Offset() <= st.LastLoop {
			s.metrics.replaySkipped.WithLabelValues(s.name).Inc()
			return
		}
		st.Outbox = outbox{}
		if st.close(s.sem, m.Through, s.stamp()) {
			st.LastLoop = ctx.Offset()
			ctx.SetValue(st)
		}
		at, ok := st.nextClose(s.sem)
		c.index.set(ctx.Key(), at, ok)
	}
}
