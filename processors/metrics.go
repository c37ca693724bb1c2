package processors

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/watermark"
)

// Metrics are the processors' Prometheus metrics. Register them on the
// registry the HTTP server exposes; tests read them directly. One Metrics
// belongs to one Pipeline (wrap the registerer with a member label to put
// several members of one process on one registry).
type Metrics struct {
	recordsIn     *prometheus.CounterVec   // stage
	rejected      *prometheus.CounterVec   // reason
	late          prometheus.Counter       //
	duplicates    prometheus.Counter       //
	droppedDeltas prometheus.Counter       //
	replaySkipped *prometheus.CounterVec   // group
	closed        prometheus.Counter       //
	loopIgnored   prometheus.Counter       //
	nudges        prometheus.Counter       //
	inPlace       prometheus.Counter       //
	idleAdvances  *prometheus.CounterVec   // group
	published     *prometheus.CounterVec   // topic, kind (first|correction|late)
	closeLatency  *prometheus.HistogramVec // group
	registryWaits prometheus.Counter
	rebalances    *prometheus.CounterVec // group
	assigned      *prometheus.GaugeVec   // group
	openKeys      *prometheus.GaugeVec   // group, partition
	marksSent     *prometheus.CounterVec // stage
	outcomes      *prometheus.CounterVec // stage, outcome
	watermark     *prometheus.GaugeVec   // group, partition
	watermarkLag  *prometheus.GaugeVec   // group, partition
	holder        *prometheus.GaugeVec   // group, partition
	waiting       *prometheus.GaugeVec   // group, partition
	sourceTime    *prometheus.GaugeVec   // partition
	sourceIdle    *prometheus.GaugeVec   // partition
	paused        *prometheus.GaugeVec   // group, partition
	pauses        *prometheus.CounterVec // group
	state         *stateCollector
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered anywhere, still counted).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_records_in_total",
			Help: "Records processed, by stage: ingest counts input records decoded (by the ingest stage, or by the windowed stage reading its input in place), windows the readings applied to devices."}, []string{"stage"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_rejected_total",
			Help: "Input records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_late_total",
			Help: "Readings older than their device partition's watermark minus retention, sent to the late topic."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_duplicates_total",
			Help: "Readings whose ID the device had already applied."}),
		droppedDeltas: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_dropped_deltas_total",
			Help: "Counter differences dropped as resets or glitches (negative or above max-delta)."}),
		replaySkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_replay_skipped_total",
			Help: "Redelivered input already applied to the table (after a crash or rebalance)."}, []string{"group"}),
		closed: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_windows_closed_total",
			Help: "Device windows whose first revision a watermark advance published (in the partition's metadata write, with their station rollup)."}),
		inPlace: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_readings_in_place_total",
			Help: "Readings the windowed stage applied where they landed on the input topic (their partition, their reading key), without a re-key."}),
		loopIgnored: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_loop_ignored_total",
			Help: "Records on the loopback topic that are not ticks (a two-stage pipeline's close request left by an upgrade), skipped."}),
		nudges: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_nudges_total",
			Help: "Ticks the windowed stage sent itself so as not to wait for the next tick: when an input partition went idle with its mark waiting for the changelog's acknowledgements, or when every source of a partition went idle (its last windows close)."}),
		idleAdvances: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_idle_advances_total",
			Help: "Idle steps: an input partition marked idle (stage ingest), or a device partition whose sources are all idle advancing its watermark (group)."}, []string{"group"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_published_total",
			Help: "Records published by the relays, by topic and kind: first (REVISION 1), correction (any later revision, the updates of --emit updates included), late (a too-late reading)."}, []string{"topic", "kind"}),
		// The window close latency: from the close decision (the table
		// write holding the window in its outbox) to the window being
		// acknowledged on its sink topic.
		closeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "turnstile_window_publish_latency_seconds",
			Help:    "Window close latency: from the close decision to the window being acknowledged on its topic.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"group"}),
		registryWaits: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_registry_waits_total",
			Help: "Times a record waited for the schema registry (unreachable, never-seen schema id)."}),
		rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_rebalances_total",
			Help: "Partition assignments this member received (one per consumer group generation), by goka group."}, []string{"group"}),
		assigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_assigned_partitions",
			Help: "Partitions of the group this member owns (0: idle standby)."}, []string{"group"}),
		openKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_open_keys",
			Help: "Devices with at least one window not closed yet, by group and owned partition."},
			[]string{"group", "partition"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_reading_outcomes_total",
			Help: "What became of each reading the device stage received, exactly one each: applied, duplicate (its ID was applied already) or late (older than the watermark minus retention: on the late topic). Redelivered input already applied is turnstile_replay_skipped_total."},
			[]string{"stage", "outcome"}),
		marksSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_marks_sent_total",
			Help: "Watermark marks sent in band, by the stage that sent them (ingest: one per readings partition)."}, []string{"stage"}),
		watermark: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_watermark_seconds",
			Help: "A windowed partition's watermark (Unix seconds of event time): windows with end + grace up to it are closed. Absent until every source has been heard from."},
			[]string{"group", "partition"}),
		watermarkLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_watermark_lag_seconds",
			Help: "How far a windowed partition's watermark is behind the newest event time it has seen, in seconds."},
			[]string{"group", "partition"}),
		holder: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_watermark_holder",
			Help: "The upstream partition holding a windowed partition's watermark back (the least active source, or the first not heard from); -1 when every source is idle."},
			[]string{"group", "partition"}),
		waiting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_watermark_waiting_sources",
			Help: "Upstream partitions a windowed partition has no time from yet (not idle): while above 0 it has no watermark and closes nothing."},
			[]string{"group", "partition"}),
		sourceTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_source_watermark_seconds",
			Help: "An input partition's source watermark: the largest event time the ingest stage accepted from it (Unix seconds)."},
			[]string{"partition"}),
		sourceIdle: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_source_idle",
			Help: "1 when the ingest stage has marked an input partition idle (caught up and silent for --idle-timeout)."},
			[]string{"partition"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "turnstile_input_paused",
			Help: "1 while the windowed stage has paused fetching an input partition because it ran more than --align-drift of event time ahead of its partition's watermark (watermark alignment)."},
			[]string{"group", "partition"}),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_input_pauses_total",
			Help: "Times watermark alignment paused an input partition."}, []string{"group"}),
		state: &stateCollector{
			bytes: prometheus.NewDesc("turnstile_state_bytes", "Local table state: Pebble disk usage plus memtables, by table topic.",
				[]string{"table"}, nil),
			parts: prometheus.NewDesc("turnstile_state_partitions", "Table partitions open in local state, by table topic.",
				[]string{"table"}, nil),
		},
	}
	if reg != nil {
		for _, c := range m.collectors() {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("processors: metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.recordsIn, m.rejected, m.late, m.duplicates, m.droppedDeltas, m.replaySkipped,
		m.closed, m.loopIgnored, m.nudges, m.inPlace, m.idleAdvances, m.published, m.closeLatency, m.registryWaits,
		m.rebalances, m.assigned, m.openKeys, m.marksSent, m.outcomes, m.watermark, m.watermarkLag, m.holder, m.waiting,
		m.sourceTime, m.sourceIdle, m.paused, m.pauses, m.state}
}

// Reading outcomes at the device stage (turnstile_reading_outcomes_total).
const (
	outcomeApplied   = OutcomeApplied
	outcomeDuplicate = OutcomeDuplicate
	outcomeLate      = OutcomeLate
)

// setPaused records whether watermark alignment paused an input partition.
func (m *Metrics) setPaused(group string, partition int32, paused bool) {
	v := 0.0
	if paused {
		v = 1
		m.pauses.WithLabelValues(group).Inc()
	}
	m.paused.WithLabelValues(group, strconv.Itoa(int(partition))).Set(v)
}

// setWatermark records a windowed partition's watermark and what holds it;
// called from the partition's goroutine.
func (m *Metrics) setWatermark(group string, partition int32, c *partClock, p watermark.Progress) {
	l := prometheus.Labels{"group": group, "partition": strconv.Itoa(int(partition))}
	m.holder.With(l).Set(float64(p.Holder))
	m.waiting.With(l).Set(float64(p.Waiting))
	if !c.hasTime {
		return
	}
	m.watermark.With(l).Set(float64(c.streamTime) / 1000)
	if c.hasNewest {
		m.watermarkLag.With(l).Set(float64(max(0, c.newest-c.streamTime)) / 1000)
	}
}

// setSource records an input partition's source watermark.
func (m *Metrics) setSource(partition int32, s *watermark.Source) {
	p := strconv.Itoa(int(partition))
	if t, ok := s.Max(); ok {
		m.sourceTime.WithLabelValues(p).Set(float64(t) / 1000)
	}
	idle := 0.0
	if s.IsIdle() {
		idle = 1
	}
	m.sourceIdle.WithLabelValues(p).Set(idle)
}

// setOpen records how many keys of a partition have an open window; called
// from the partition's goroutine after it swept its clock.
func (m *Metrics) setOpen(group string, partition int32, n int) {
	m.openKeys.WithLabelValues(group, strconv.Itoa(int(partition))).Set(float64(n))
}

// onAssign records a new assignment of a group's partitions.
func (m *Metrics) onAssign(group string, partitions map[int32]bool) {
	m.rebalances.WithLabelValues(group).Inc()
	m.assigned.WithLabelValues(group).Set(float64(len(partitions)))
	// Partitions that moved away no longer report open keys here; the
	// owned ones report again on their next sweep (at least every tick).
	for _, g := range []*prometheus.GaugeVec{m.openKeys, m.watermark, m.watermarkLag, m.holder, m.waiting} {
		g.DeletePartialMatch(prometheus.Labels{"group": group})
	}
}

// stateCollector reports the size of the local table stores at scrape time.
type stateCollector struct {
	bytes, parts *prometheus.Desc
	mu           sync.Mutex
	stores       *state.Stores
}

func (c *stateCollector) set(s *state.Stores) {
	c.mu.Lock()
	c.stores = s
	c.mu.Unlock()
}

// total is the state size over every table.
func (c *stateCollector) total() float64 {
	c.mu.Lock()
	s := c.stores
	c.mu.Unlock()
	if s == nil {
		return 0
	}
	var n float64
	for _, st := range s.Stats() {
		n += float64(st.DiskBytes + st.MemTableBytes)
	}
	return n
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.bytes; ch <- c.parts }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.stores
	c.mu.Unlock()
	if s == nil {
		return
	}
	bytes, parts := map[string]float64{}, map[string]float64{}
	for _, st := range s.Stats() {
		bytes[st.Topic] += float64(st.DiskBytes + st.MemTableBytes)
		parts[st.Topic]++
	}
	for t, b := range bytes {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, b, t)
		ch <- prometheus.MustNewConstMetric(c.parts, prometheus.GaugeValue, parts[t], t)
	}
}

// Snapshot is a point-in-time copy of a member's counters, for the live
// status line. Counters are totals since the process started.
type Snapshot struct {
	In         map[string]float64 // by stage
	Rejected   float64
	Late       float64
	Duplicates float64
	Dropped    float64
	// Published by topic, then kind (first, correction, late, update).
	Published map[string]map[string]float64
	// OpenKeys by group, over the partitions this member owns.
	OpenKeys   map[string]float64
	StateBytes float64
	// Outcomes of the readings the device stage received (applied,
	// duplicate, late).
	Outcomes map[string]float64
	// Watermarks by group: the partition this member owns with the least
	// watermark (the one that holds its windows back).
	Watermarks map[string]WatermarkView
}

// WatermarkView is one windowed partition's event-time progress.
type WatermarkView struct {
	Partition int32
	// Time is the watermark (zero: none yet; Waiting sources not heard from).
	Time time.Time
	// Lag is how far it is behind the newest event time the partition saw.
	Lag time.Duration
	// Holder is the upstream partition holding it back (-1: all idle).
	Holder  int32
	Waiting int
}

// watermarks reads the watermark gauges: per group, the least watermark
// of the partitions this member owns.
func (m *Metrics) watermarks() map[string]WatermarkView {
	type key struct{ group, part string }
	views := map[key]*WatermarkView{}
	get := func(l map[string]string) *WatermarkView {
		k := key{l["group"], l["partition"]}
		if views[k] == nil {
			p, _ := strconv.Atoi(k.part)
			views[k] = &WatermarkView{Partition: int32(p), Holder: -1}
		}
		return views[k]
	}
	each(m.watermark, func(l map[string]string, v float64) { get(l).Time = time.UnixMilli(int64(v * 1000)).UTC() })
	each(m.watermarkLag, func(l map[string]string, v float64) { get(l).Lag = time.Duration(v * float64(time.Second)) })
	each(m.holder, func(l map[string]string, v float64) { get(l).Holder = int32(v) })
	each(m.waiting, func(l map[string]string, v float64) { get(l).Waiting = int(v) })
	out := map[string]WatermarkView{}
	for k, v := range views {
		cur, ok := out[k.group]
		if !ok || v.Time.Before(cur.Time) || v.Time.Equal(cur.Time) && v.Partition < cur.Partition {
			out[k.group] = *v
		}
	}
	return out
}

// Snapshot reads the counters.
func (m *Metrics) Snapshot() Snapshot {
	s := Snapshot{In: map[string]float64{}, Published: map[string]map[string]float64{}, OpenKeys: map[string]float64{}}
	each(m.recordsIn, func(l map[string]string, v float64) { s.In[l["stage"]] += v })
	each(m.rejected, func(_ map[string]string, v float64) { s.Rejected += v })
	each(m.late, func(_ map[string]string, v float64) { s.Late += v })
	each(m.duplicates, func(_ map[string]string, v float64) { s.Duplicates += v })
	each(m.droppedDeltas, func(_ map[string]string, v float64) { s.Dropped += v })
	each(m.published, func(l map[string]string, v float64) {
		if s.Published[l["topic"]] == nil {
			s.Published[l["topic"]] = map[string]float64{}
		}
		s.Published[l["topic"]][l["kind"]] += v
	})
	each(m.openKeys, func(l map[string]string, v float64) { s.OpenKeys[l["group"]] += v })
	s.StateBytes = m.state.total()
	s.Watermarks = m.watermarks()
	s.Outcomes = map[string]float64{}
	each(m.outcomes, func(l map[string]string, v float64) { s.Outcomes[l["outcome"]] += v })
	return s
}

// Add sums two snapshots (members of one process).
func (s Snapshot) Add(o Snapshot) Snapshot {
	out := Snapshot{In: map[string]float64{}, Published: map[string]map[string]float64{}, OpenKeys: map[string]float64{},
		Rejected: s.Rejected + o.Rejected, Late: s.Late + o.Late, Duplicates: s.Duplicates + o.Duplicates,
		Dropped: s.Dropped + o.Dropped, StateBytes: s.StateBytes + o.StateBytes, Watermarks: map[string]WatermarkView{}}
	out.Outcomes = map[string]float64{}
	for _, x := range []Snapshot{s, o} {
		for k, v := range x.Outcomes {
			out.Outcomes[k] += v
		}
		for g, v := range x.Watermarks {
			if cur, ok := out.Watermarks[g]; !ok || v.Time.Before(cur.Time) {
				out.Watermarks[g] = v
			}
		}
		for k, v := range x.In {
			out.In[k] += v
		}
		for k, v := range x.OpenKeys {
			out.OpenKeys[k] += v
		}
		for t, kinds := range x.Published {
			if out.Published[t] == nil {
				out.Published[t] = map[string]float64{}
			}
			for k, v := range kinds {
				out.Published[t][k] += v
			}
		}
	}
	return out
}

// each calls fn with the labels and value of every counter or gauge c
// currently holds.
func each(c prometheus.Collector, fn func(labels map[string]string, v float64)) {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			continue
		}
		labels := map[string]string{}
		for _, lp := range d.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		switch {
		case d.Counter != nil:
			fn(labels, d.Counter.GetValue())
		case d.Gauge != nil:
			fn(labels, d.Gauge.GetValue())
		}
	}
}

// addStage creates the series of a stage this member runs at zero, so its
// stage label is on /metrics before its first record.
func (m *Metrics) addStage(s Stage) {
	m.recordsIn.WithLabelValues(s.Name)
}

// stageCounters are the counters a windowed stage's callbacks add to for
// every record, resolved once from their vectors (a label lookup per
// record costs more than the increment).
type stageCounters struct {
	in, applied, duplicate, late, skipped prometheus.Counter
}

func (m *Metrics) stageCounters(group string) stageCounters {
	return stageCounters{
		in:        m.recordsIn.WithLabelValues(StageWindows),
		applied:   m.outcomes.WithLabelValues(StageWindows, outcomeApplied),
		duplicate: m.outcomes.WithLabelValues(StageWindows, outcomeDuplicate),
		late:      m.outcomes.WithLabelValues(StageWindows, outcomeLate),
		skipped:   m.replaySkipped.WithLabelValues(group),
	}
}
