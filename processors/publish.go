package processors

import (
	"context"
	"fmt"
	"slices"
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

// rowContext is an output record's Context: a context that is never done
// (as context.Background), carrying the publishInfo that the relay's
// acknowledgement hook reads. A type of its own rather than
// context.WithValue, so a row in a rowSlab costs no allocation for it. Its
// context methods read none of its memory: franz-go may still ask a
// record's context whether it is done from a goroutine of its own after
// the record's promise (the wait for a new topic's metadata), and by then
// the slab may hold the next batch's rows (rowSlab.reset).
type rowContext struct {
	info publishInfo
}

func (*rowContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*rowContext) Done() <-chan struct{}       { return nil }
func (*rowContext) Err() error                  { return nil }
func (*rowContext) Value(any) any               { return nil }

// rowSlab holds the output records a relay translated between two of its
// flushes: their kgo.Records and contexts in chunks of slabChunk, their
// keys and values in one byte array, where each row took about seven
// allocations of its own (the relay was 8 % of the pipeline's CPU and an
// eighth of its allocated bytes). The records live until the relay's flush
// has them acknowledged; then the slab is emptied for the next batch
// (reset), its chunks and array kept.
//
// A record never moves once handed out: the producer writes into a
// record it buffers (its partition, its timestamp) while the relay
// translates the next changelog record, so the records are in chunks that
// are never copied. The bytes may be copied to a larger array (the
// producer only reads a key or a value, and what was handed out keeps the
// old array).
type rowSlab struct {
	chunks [][]slabRecord
	n      int // records in use
	buf    []byte
}

type slabRecord struct {
	rec kgo.Record
	ctx rowContext
}

// slabChunk is how many records a chunk holds: a record is ~170 bytes.
const slabChunk = 256

// rowBytes is about one window row's key and value (~45 and ~95 bytes).
const rowBytes = 160

// grow makes room for about rows more rows' bytes, so that a changelog
// record's rows rarely copy the array while they are added.
func (s *rowSlab) grow(rows int) {
	s.buf = slices.Grow(s.buf, rows*rowBytes)
}

// reset empties the slab once nothing refers to its records: the relay's
// flush had every one acknowledged (the producer keeps no record after
// its promise).
func (s *rowSlab) reset() {
	for i := 0; i*slabChunk < s.n; i++ {
		clear(s.chunks[i][:min(slabChunk, s.n-i*slabChunk)]) // no contexts or bytes kept alive from the last batch
	}
	s.n, s.buf = 0, s.buf[:0]
}

// slabRow encodes w into the slab, keyed by the window key of prefix and
// start (ms), and returns its record for topic.
func slabRow[W any, P interface {
	*W
	Validate() error
}](s *rowSlab, codec *codecs.WindowCodec[W, P], w *W, topic, prefix string, start int64, info publishInfo) (*kgo.Record, error) {
	k := len(s.buf)
	s.buf = schemas.AppendWindowKey(s.buf, prefix, time.UnixMilli(start))
	v := len(s.buf)
	var err error
	if s.buf, err = codec.AppendMarshal(s.buf, w); err != nil {
		return nil, retryable(err)
	}
	return s.add(topic, k, v, info), nil
}

// add returns a record of topic whose key is buf[k:v] and value buf[v:].
// Records and bytes added later never move it or change what it holds.
func (s *rowSlab) add(topic string, k, v int, info publishInfo) *kgo.Record {
	c := s.n / slabChunk
	if c == len(s.chunks) {
		s.chunks = append(s.chunks, make([]slabRecord, slabChunk))
	}
	r := &s.chunks[c][s.n%slabChunk]
	s.n++
	r.ctx = rowContext{info: info}
	end := len(s.buf)
	r.rec = kgo.Record{Topic: topic, Key: s.buf[k:v:v], Value: s.buf[v:end:end], Context: &r.ctx}
	return &r.rec
}

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

// row is the publication info of a window row of revision rev on the topic
// that c counts (its record's rowContext).
func (m *stageMetrics) row(c windowCounters, rev int32, emittedAt int64) publishInfo {
	n := c.correction
	if rev == 1 {
		n = c.first
	}
	return publishInfo{n, m.latency, emittedAt}
}

func (m *stageMetrics) lateReading() context.Context {
	return &rowContext{info: publishInfo{published: m.late}}
}

func (p *publisher) onPublished(rec *kgo.Record) {
	c, ok := rec.Context.(*rowContext)
	if !ok {
		return
	}
	info := c.info
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

// rowTranslator is the relay's Translate and Recycle for a stage's
// table: a partition's metadata record publishes the device and station
// windows its watermark closed; a device's record its outbox (its
// corrections and the station corrections they cause, and too-late
// readings). The rows of a batch go in one slab, emptied when the relay's
// flush has them acknowledged, so a relay in its stride allocates no
// slab, no record and no window struct per row. Both run in the relay's
// goroutine.
type rowTranslator struct {
	p    *publisher
	m    *stageMetrics
	slab rowSlab
	outs []*kgo.Record // the last Translate's, which the relay produced before the next
	rows []windows.ClosedRow
	dw   schemas.DeviceWindow
	sw   schemas.StationWindow
}

func (p *publisher) translator(group string) *rowTranslator {
	return &rowTranslator{p: p, m: p.stageMetrics(group)}
}

// recycle is the relay's Recycle: every record translated so far is
// acknowledged.
func (t *rowTranslator) recycle() { t.slab.reset() }

func (t *rowTranslator) translate(rec *kgo.Record) ([]*kgo.Record, error) {
	p, m, slab := t.p, t.m, &t.slab
	outs := t.outs[:0]
	defer func() { t.outs = outs[:0] }()
	if len(rec.Value) > 0 && rec.Value[0] == wire.TagPartition {
		meta, err := wire.DecodeMeta(rec.Value)
		if err != nil {
			return nil, err
		}
		slab.grow(len(meta.Closes) + len(meta.Stations))
		if outs, err = t.deviceRows(meta.Closes, outs); err != nil {
			return nil, err
		}
		outs, err = t.stationRows(meta.Stations, outs)
		return outs, err
	}
	h, ok, err := wire.PendingHead(rec.Value)
	if !ok {
		return nil, err
	}
	key := string(rec.Key)
	o := h.Outbox
	slab.grow(len(o.Windows) + len(o.Stations))
	rows := t.rows[:0]
	for _, w := range o.Windows {
		rows = append(rows, windows.ClosedRow{Key: key, Division: h.Division, Row: w})
	}
	if outs, err = t.deviceRows(rows, outs); err != nil {
		return nil, err
	}
	station := schemas.RouteKey(key)
	rows = rows[:0]
	for _, w := range o.Stations {
		rows = append(rows, windows.ClosedRow{Key: station, Division: h.Division, Row: w})
	}
	t.rows = rows[:0]
	if outs, err = t.stationRows(rows, outs); err != nil {
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

// deviceRows appends the device windows topic's records of rows (Key: the
// device's reading key), keyed CA|UNIT|SCP|START.
func (t *rowTranslator) deviceRows(rows []windows.ClosedRow, outs []*kgo.Record) ([]*kgo.Record, error) {
	p, m, slab, dw := t.p, t.m, &t.slab, &t.dw
	for _, c := range rows {
		st, dev, ok := schemas.SplitReadingKey(c.Key)
		if !ok {
			return nil, fmt.Errorf("processors: bad device key %q", c.Key)
		}
		station, line, _ := schemas.SplitStationKey(st)
		ca, unit, scp, _ := schemas.SplitDeviceKey(dev)
		w := c.Row
		*dw = schemas.DeviceWindow{CA: ca, Unit: unit, SCP: scp, Station: station, LineName: line,
			Division: c.Division, Desc: w.Desc, Entries: w.Entries, Exits: w.Exits,
			Revision: w.Rev, Generation: w.Gen, EmittedAt: time.UnixMilli(w.EmittedAt).UTC()}
		dw.SetWindow(time.UnixMilli(w.Start).UTC(), time.UnixMilli(w.End).UTC(), p.zone)
		rec, err := slabRow(slab, p.deviceCodec, dw, p.topics.DeviceWindows, dev, w.Start, m.row(m.devices, w.Rev, w.EmittedAt))
		if err != nil {
			return nil, err
		}
		outs = append(outs, rec)
	}
	return outs, nil
}

// stationRows appends the station windows topic's records of rows (Key:
// the station key), keyed STATION|LINENAME|START.
func (t *rowTranslator) stationRows(rows []windows.ClosedRow, outs []*kgo.Record) ([]*kgo.Record, error) {
	p, m, slab, sw := t.p, t.m, &t.slab, &t.sw
	for _, c := range rows {
		name, line, ok := schemas.SplitStationKey(c.Key)
		if !ok {
			return nil, fmt.Errorf("processors: bad station key %q", c.Key)
		}
		w := c.Row
		*sw = schemas.StationWindow{Station: name, LineName: line, Division: c.Division,
			Start: time.UnixMilli(w.Start).UTC(), End: time.UnixMilli(w.End).UTC(), Entries: w.Entries, Exits: w.Exits,
			Devices: w.Devices, Revision: w.Rev, Generation: w.Gen, EmittedAt: time.UnixMilli(w.EmittedAt).UTC()}
		rec, err := slabRow(slab, p.stationCodec, sw, p.topics.StationWindows, c.Key, w.Start, m.row(m.stations, w.Rev, w.EmittedAt))
		if err != nil {
			return nil, err
		}
		outs = append(outs, rec)
	}
	return outs, nil
}
