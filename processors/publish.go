package processors

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/emitter"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// publisher turns the windowed stage's changelog records into the records
// its relay publishes: device windows, station windows and too-late
// readings.
type publisher struct {
	topics       Topics
	deviceCodec  *codecs.DeviceWindowCodec
	stationCodec *codecs.StationWindowCodec
	lateCodec    *codecs.ReadingCodec
	zone         *time.Location // of the device windows' DATE and TIME (Config.TimeZone)
	metrics      *Metrics
}

// publishInfo rides on an output record's Context so the relay's
// acknowledgement hook can count it and measure its latency.
type publishInfo struct {
	published prometheus.Counter  // turnstile_published_total{topic, kind}
	latency   prometheus.Observer // the stage's close latency; nil for too-late readings
	emittedAt int64
}

type publishInfoKey struct{}

// stageMetrics are one stage's publication metrics with their labels
// resolved once, not on each record's acknowledgement.
type stageMetrics struct {
	devices, stations windowCounters
	late              prometheus.Counter
	latency           prometheus.Observer
}

// windowCounters count one sink topic's window rows by their
// turnstile_published_total kind: "first" (REVISION 1) or "correction"
// (every later revision; --emit updates' updates are later revisions too).
// Too-late readings are "late".
type windowCounters struct{ first, correction prometheus.Counter }

func (p *publisher) stageMetrics(group string) *stageMetrics {
	counters := func(topic string) windowCounters {
		return windowCounters{p.metrics.published.WithLabelValues(topic, "first"), p.metrics.published.WithLabelValues(topic, "correction")}
	}
	return &stageMetrics{devices: counters(p.topics.DeviceWindows), stations: counters(p.topics.StationWindows),
		late: p.metrics.published.WithLabelValues(p.topics.Late, "late"), latency: p.metrics.closeLatency.WithLabelValues(group)}
}

// row is the Context of a window row of revision rev on the topic that c
// counts.
func (m *stageMetrics) row(c windowCounters, rev int32, emittedAt int64) context.Context {
	n := c.correction
	if rev == 1 {
		n = c.first
	}
	return context.WithValue(context.Background(), publishInfoKey{}, publishInfo{n, m.latency, emittedAt})
}

func (m *stageMetrics) lateReading() context.Context {
	return context.WithValue(context.Background(), publishInfoKey{}, publishInfo{published: m.late})
}

func (p *publisher) onPublished(rec *kgo.Record) {
	info, ok := rec.Context.Value(publishInfoKey{}).(publishInfo)
	if !ok {
		return
	}
	info.published.Inc()
	if info.emittedAt > 0 && info.latency != nil {
		info.latency.Observe(time.Since(time.UnixMilli(info.emittedAt)).Seconds())
	}
}

// retryable marks codec errors that only mean "the registry is
// unreachable" so the relay waits instead of skipping.
func retryable(err error) error {
	if codecs.IsRetryable(err) {
		return fmt.Errorf("%w: %w", emitter.ErrRetry, err)
	}
	return err
}

// translate is the relay's Translate for group's table: a partition's
// metadata record publishes the device and station windows its watermark
// closed; a device's record its outbox (its corrections and the station
// corrections they cause, and too-late readings).
func (p *publisher) translate(group string) emitter.Translate {
	m := p.stageMetrics(group)
	return func(rec *kgo.Record) ([]*kgo.Record, error) {
		if len(rec.Value) > 0 && rec.Value[0] == wire.TagPartition {
			meta, err := wire.DecodeMeta(rec.Value)
			if err != nil {
				return nil, err
			}
			outs, err := p.deviceRows(m, meta.Closes, nil)
			if err != nil {
				return nil, err
			}
			return p.stationRows(m, meta.Stations, outs)
		}
		h, ok, err := wire.PendingHead(rec.Value)
		if !ok {
			return nil, err
		}
		key := string(rec.Key)
		o := h.Outbox
		rows := make([]windows.ClosedRow, len(o.Windows))
		for i, w := range o.Windows {
			rows[i] = windows.ClosedRow{Key: key, Division: h.Division, Row: w}
		}
		outs, err := p.deviceRows(m, rows, nil)
		if err != nil {
			return nil, err
		}
		station := schemas.RouteKey(key)
		rows = rows[:0]
		for _, w := range o.Stations {
			rows = append(rows, windows.ClosedRow{Key: station, Division: h.Division, Row: w})
		}
		if outs, err = p.stationRows(m, rows, outs); err != nil {
			return nil, err
		}
		for _, l := range o.Late {
			r, err := wire.DecodeReading(l)
			if err != nil {
				return nil, err
			}
			b, err := p.lateCodec.EncodeReading(&r.Reading)
			if err != nil {
				return nil, retryable(err)
			}
			outs = append(outs, &kgo.Record{Topic: p.topics.Late, Key: []byte(r.DeviceKey()), Value: b, Context: m.lateReading()})
		}
		return outs, nil
	}
}

// deviceRows appends the device windows topic's records of rows (Key: the
// device's reading key), keyed CA|UNIT|SCP|START.
func (p *publisher) deviceRows(m *stageMetrics, rows []windows.ClosedRow, outs []*kgo.Record) ([]*kgo.Record, error) {
	for _, c := range rows {
		st, dev, ok := schemas.SplitReadingKey(c.Key)
		if !ok {
			return nil, fmt.Errorf("processors: bad device key %q", c.Key)
		}
		station, line, _ := schemas.SplitStationKey(st)
		ca, unit, scp, _ := schemas.SplitDeviceKey(dev)
		w := c.Row
		dw := schemas.DeviceWindow{CA: ca, Unit: unit, SCP: scp, Station: station, LineName: line,
			Division: c.Division, Desc: w.Desc, Entries: w.Entries, Exits: w.Exits,
			Revision: w.Rev, Generation: w.Gen, EmittedAt: time.UnixMilli(w.EmittedAt).UTC()}
		dw.SetWindow(time.UnixMilli(w.Start).UTC(), time.UnixMilli(w.End).UTC(), p.zone)
		b, err := p.deviceCodec.Marshal(&dw)
		if err != nil {
			return nil, retryable(err)
		}
		outs = append(outs, &kgo.Record{Topic: p.topics.DeviceWindows, Key: []byte(schemas.DeviceWindowKey(dev, time.UnixMilli(w.Start))), Value: b,
			Context: m.row(m.devices, w.Rev, w.EmittedAt)})
	}
	return outs, nil
}

// stationRows appends the station windows topic's records of rows (Key:
// the station key), keyed STATION|LINENAME|START.
func (p *publisher) stationRows(m *stageMetrics, rows []windows.ClosedRow, outs []*kgo.Record) ([]*kgo.Record, error) {
	for _, c := range rows {
		name, line, ok := schemas.SplitStationKey(c.Key)
		if !ok {
			return nil, fmt.Errorf("processors: bad station key %q", c.Key)
		}
		w := c.Row
		sw := schemas.StationWindow{Station: name, LineName: line, Division: c.Division,
			Start: time.UnixMilli(w.Start).UTC(), End: time.UnixMilli(w.End).UTC(), Entries: w.Entries, Exits: w.Exits,
			Devices: w.Devices, Revision: w.Rev, Generation: w.Gen, EmittedAt: time.UnixMilli(w.EmittedAt).UTC()}
		b, err := p.stationCodec.Marshal(&sw)
		if err != nil {
			return nil, retryable(err)
		}
		outs = append(outs, &kgo.Record{Topic: p.topics.StationWindows, Key: []byte(schemas.StationWindowKey(c.Key, time.UnixMilli(w.Start))),
			Value: b, Context: m.row(m.stations, w.Rev, w.EmittedAt)})
	}
	return outs, nil
}
