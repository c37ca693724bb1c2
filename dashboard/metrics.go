package dashboard

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// hubMetrics are the hub's Prometheus metrics.
type hubMetrics struct {
	clients     prometheus.Gauge
	dropped     prometheus.Counter
	refused     prometheus.Counter
	events      *prometheus.CounterVec // topic
	undecodable *prometheus.CounterVec // topic
	refetched   prometheus.Counter
}

func newHubMetrics(reg prometheus.Registerer) (*hubMetrics, error) {
	m := &hubMetrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "turnstile_dashboard_clients",
			Help: "Open /events streams (catching up or live)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_dashboard_dropped_clients_total",
			Help: "/events clients disconnected because their buffer was full (too slow); they resume with Last-Event-ID."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_dashboard_refused_clients_total",
			Help: "/events requests answered 503 because the maximum number of clients was open."}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_dashboard_events_total",
			Help: "Sink records the dashboard read and decoded, by topic."}, []string{"topic"}),
		undecodable: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "turnstile_dashboard_undecodable_total",
			Help: "Sink records the dashboard could not decode and skipped, by topic."}, []string{"topic"}),
		refetched: prometheus.NewCounter(prometheus.CounterOpts{Name: "turnstile_dashboard_refetched_total",
			Help: "Sink records read from Kafka again for /events clients resuming from further back than the dashboard's memory."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.clients, m.dropped, m.refused, m.events, m.undecodable, m.refetched} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("dashboard: metrics: %w", err)
			}
		}
	}
	return m, nil
}
