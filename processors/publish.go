package processors

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/emitter"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// publisher turns table changelog records into the records the relays
// publish.
type publisher struct {
	topics       Topics
	deviceCodec  *codecs.DeviceWindowCodec
	stationCodec *codecs.StationWindowCodec
	lateCodec    *codecs.ReadingCodec
	zone         *time.Location // of the device windows' DATE and TIME (Config.TimeZone)
	metrics      *Metrics
	// stationCtrl are the control keys of the station-updates partitions,
	// where device partitions' watermarks go.
	stationCtrl []string
}

// publishInfo rides on an output record's Context so the relay's
// acknowledgement hook can measure latency and count kinds.
type publishInfo struct {
	group     string
	kind      string
	emittedAt int64
}

type publishInfoKey struct{}

func withInfo(group, kind string, emittedAt int64) context.Context {
	return context.WithValue(context.Background(), publishInfoKey{}, publishInfo{group, kind, emittedAt})
}

func (p *publisher) onPublished(rec *kgo.Record) {
	info, ok := rec.Context.Value(publishInfoKey{}).(publishInfo)
	if !ok {
		return
	}
	p.metrics.published.WithLabelValues(rec.Topic, info.kind).Inc()
	if info.emittedAt > 0 && info.kind != "late" {
		p.metrics.closeLatency.WithLabelValues(info.group).Observe(time.Since(time.UnixMilli(info.emittedAt)).Seconds())
	}
}

// kind is the turnstile_published_total kind of a window revision: "first"
// or "correction" (every later revision; --emit updates' updates are later
// revisions too). Too-late readings are "late".
func kind(rev int32) string {
	if rev == 1 {
		return "first"
	}
	return "correction"
}

// WindowKeyTime formats a window start in sink keys.
const WindowKeyTime = "2006-01-02T15:04:05Z"

func windowKey(prefix string, start int64) []byte {
	return []byte(prefix + schemas.KeySeparator + time.UnixMilli(start).UTC().Format(WindowKeyTime))
}

// retryable marks codec errors that only mean "the registry is
// unreachable" so the relay waits instead of skipping.
func retryable(err error) error {
	if codecs.IsRetryable(err) {
		return fmt.Errorf("%w: %w", emitter.ErrRetry, err)
	}
	return err
}

// marks passes a device partition's closed watermark, recorded in its
// metadata in the same write as the closes it covers (or after them), to
// every station partition: the relay publishes the rows first.
func (p *publisher) marks(meta *wire.PartitionMeta, partition int32) []*kgo.Record {
	if !meta.Mark || !meta.HasClosed {
		return nil
	}
	b := wire.EncodeMark(&wire.Mark{Source: partition, Time: meta.Closed, HasTime: true})
	outs := make([]*kgo.Record, len(p.stationCtrl))
	for i, k := range p.stationCtrl {
		outs[i] = &kgo.Record{Topic: p.topics.StationUpdates, Key: []byte(k), Value: b}
	}
	return outs
}

func (p *publisher) devices(group string) emitter.Translate {
	return func(rec *kgo.Record) ([]*kgo.Record, error) {
		if len(rec.Value) > 0 && rec.Value[0] == wire.TagPartition {
			// The partition's closes, then its closed mark.
			meta, err := wire.DecodeMeta(rec.Value)
			if err != nil {
				return nil, err
			}
			outs, err := p.deviceRows(group, meta.Closes)
			if err != nil {
				return nil, err
			}
			return append(outs, p.marks(meta, rec.Partition)...), nil
		}
		h, ok, err := wire.PendingHead(rec.Value, wire.TagDevice)
		if !ok {
			return nil, err
		}
		o := h.Outbox
		rows := make([]wire.ClosedRow, len(o.Windows))
		for i, w := range o.Windows {
			rows[i] = wire.ClosedRow{Key: string(rec.Key), Station: h.Strings[0], Line: h.Strings[1], Division: h.Strings[2], Row: w}
		}
		outs, err := p.deviceRows(group, rows)
		if err != nil {
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
			outs = append(outs, &kgo.Record{Topic: p.topics.Late, Key: rec.Key, Value: b, Context: withInfo(group, "late", 0)})
		}
		return outs, nil
	}
}

// deviceRows are the records of published device window revisions: one
// per row on the device windows topic, and on the station-updates topic
// one per station window (STATION|LINENAME|START, one station-table key
// per station window keeps table values small whatever the retention),
// holding every row of it, in order.
func (p *publisher) deviceRows(group string, rows []wire.ClosedRow) ([]*kgo.Record, error) {
	var outs, updates []*kgo.Record
	var batches []windows.DeviceRows
	byKey := map[string]int{}
	for _, c := range rows {
		ca, unit, scp, ok := schemas.SplitDeviceKey(c.Key)
		if !ok {
			return nil, fmt.Errorf("processors: bad device key %q", c.Key)
		}
		w := c.Row
		dw := schemas.DeviceWindow{CA: ca, Unit: unit, SCP: scp, Station: c.Station, LineName: c.Line,
			Division: c.Division, Desc: w.Desc, Entries: w.Entries, Exits: w.Exits,
			Revision: w.Rev, Generation: w.Gen, EmittedAt: time.UnixMilli(w.EmittedAt).UTC()}
		dw.SetWindow(time.UnixMilli(w.Start).UTC(), time.UnixMilli(w.End).UTC(), p.zone)
		b, err := p.deviceCodec.Marshal(&dw)
		if err != nil {
			return nil, retryable(err)
		}
		ctx := withInfo(group, kind(w.Rev), w.EmittedAt)
		outs = append(outs, &kgo.Record{Topic: p.topics.DeviceWindows, Key: windowKey(c.Key, w.Start), Value: b, Context: ctx})
		key := windowKey(schemas.StationKey(c.Station, c.Line), w.Start)
		row := &windows.DeviceRow{Device: c.Key, Station: c.Station, Line: c.Line, Division: c.Division,
			Start: w.Start, End: w.End, Entries: w.Entries, Exits: w.Exits, Rev: w.Rev, Gen: w.Gen}
		if i, ok := byKey[string(key)]; ok {
			batches[i] = append(batches[i], row)
			continue
		}
		byKey[string(key)] = len(updates)
		updates = append(updates, &kgo.Record{Topic: p.topics.StationUpdates, Key: key, Context: ctx})
		batches = append(batches, windows.DeviceRows{row})
	}
	for i, u := range updates {
		u.Value = wire.EncodeDeviceRows(batches[i])
	}
	return append(outs, updates...), nil
}

func (p *publisher) stations(group string) emitter.Translate {
	return func(rec *kgo.Record) ([]*kgo.Record, error) {
		h, ok, err := wire.PendingHead(rec.Value, wire.TagStation)
		if !ok {
			return nil, err
		}
		o, division := h.Outbox, h.Strings[0]
		name, line, ok := splitStationWindowKey(string(rec.Key))
		if !ok {
			return nil, fmt.Errorf("processors: bad station window key %q", rec.Key)
		}
		var outs []*kgo.Record
		for _, w := range o.Windows {
			sw := schemas.StationWindow{Station: name, LineName: line, Division: division,
				Start: time.UnixMilli(w.Start).UTC(), End: time.UnixMilli(w.End).UTC(), Entries: w.Entries, Exits: w.Exits,
				Devices: w.Devices, Revision: w.Rev, Generation: w.Gen, EmittedAt: time.UnixMilli(w.EmittedAt).UTC()}
			b, err := p.stationCodec.Marshal(&sw)
			if err != nil {
				return nil, retryable(err)
			}
			outs = append(outs, &kgo.Record{Topic: p.topics.StationWindows, Key: windowKey(schemas.StationKey(name, line), w.Start),
				Value: b, Context: withInfo(group, kind(w.Rev), w.EmittedAt)})
		}
		return outs, nil
	}
}

// splitStationWindowKey splits a station-table key, STATION|LINENAME|START.
func splitStationWindowKey(key string) (station, line string, ok bool) {
	i := strings.LastIndex(key, schemas.KeySeparator)
	if i < 0 {
		return "", "", false
	}
	return schemas.SplitStationKey(key[:i])
}
