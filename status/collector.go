package status

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Collector exports a Report as Prometheus gauges at scrape time: lag per
// consumer group and topic, records per topic. Every member of a
// deployment reports the same cluster-wide numbers.
type Collector struct {
	adm     *kadm.Client
	cfg     Config
	timeout time.Duration
	lag     *prometheus.Desc
	records *prometheus.Desc
	members *prometheus.Desc
	up      *prometheus.Desc
}

// NewCollector reads from adm with cfg on every scrape, giving up after
// timeout (default 5s).
func NewCollector(adm *kadm.Client, cfg Config, timeout time.Duration) *Collector {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Collector{adm: adm, cfg: cfg, timeout: timeout,
		lag: prometheus.NewDesc("turnstile_consumer_lag", "Records not yet consumed, by consumer group and topic (from Kafka offsets).",
			[]string{"group", "topic"}, nil),
		records: prometheus.NewDesc("turnstile_topic_records", "Records retained on a topic (end minus start offsets).",
			[]string{"topic"}, nil),
		members: prometheus.NewDesc("turnstile_group_members", "Members of a consumer group.", []string{"group"}, nil),
		up:      prometheus.NewDesc("turnstile_kafka_status_up", "1 if the last scrape could read offsets from Kafka.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.records
	ch <- c.members
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	r, err := Collect(ctx, c.adm, c.cfg)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, g := range r.Groups {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(g.Members), g.Group)
		for _, t := range g.Topics {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(t.Lag), g.Group, t.Topic)
		}
	}
	for _, t := range r.Topics {
		if !t.Missing {
			ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(t.Records), t.Topic)
		}
	}
}
