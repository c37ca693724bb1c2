package processors

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the processors' Prometheus metrics. Register them on the
// registry the HTTP server exposes; tests read them directly.
type Metrics struct {
	recordsIn      *prometheus.CounterVec   // stage
	rejected       *prometheus.CounterVec   // reason
	late           prometheus.Counter       //
	duplicates     prometheus.Counter       //
	droppedDeltas  prometheus.Counter       //
	replaySkipped  *prometheus.CounterVec   // group
	closesSent     *prometheus.CounterVec   // group
	idleAdvances   *prometheus.CounterVec   // group
	published      *prometheus.CounterVec   // topic, kind (first|correction|late)
	closeLatency   *prometheus.HistogramVec // group
	registryWaits  prometheus.Counter
	stationExpired prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered anywhere, still counted).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_records_in_total",
			Help: "Records processed, by stage (ingest, windows, stations)."}, []string{"stage"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_rejected_total",
			Help: "Input records sent to the dead-letter topic, by reason."}, []string{"reason"}),
		late: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_late_total",
			Help: "Readings older than stream time minus retention, sent to the late topic."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_duplicates_total",
			Help: "Readings whose ID the device had already applied."}),
		droppedDeltas: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_dropped_deltas_total",
			Help: "Counter differences dropped as resets or glitches (negative or above max-delta)."}),
		replaySkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_replay_skipped_total",
			Help: "Redelivered input already applied to the table (after a crash or rebalance)."}, []string{"group"}),
		closesSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_closes_sent_total",
			Help: "Close requests sent through the loopback topic."}, []string{"group"}),
		idleAdvances: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_idle_advances_total",
			Help: "Times an idle partition's stream time advanced to the wall clock."}, []string{"group"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_published_total",
			Help: "Records published by the relays, by topic and kind (first, correction, late, update)."}, []string{"topic", "kind"}),
		closeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "turnstile_window_publish_latency_seconds",
			Help:    "From the close decision to the window being acknowledged on its topic.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, []string{"group"}),
		registryWaits: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_registry_waits_total",
			Help: "Times a record waited for the schema registry (unreachable, never-seen schema id)."}),
		stationExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_station_expired_total",
			Help: "Device window revisions for station windows past retention, ignored."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.recordsIn, m.rejected, m.late, m.duplicates, m.droppedDeltas, m.replaySkipped,
			m.closesSent, m.idleAdvances, m.published, m.closeLatency, m.registryWaits, m.stationExpired} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("processors: metrics: %w", err)
			}
		}
	}
	return m, nil
}
