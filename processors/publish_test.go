package processors

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestPublishedRecordsCountByKind: a relay's acknowledgement counts each
// record under its topic and kind (a window's first revision, a later one,
// a too-late reading) and observes the close latency of window rows only.
func TestPublishedRecordsCountByKind(t *testing.T) {
	met, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	topics := Topics{Topics: schemas.Topics{DeviceWindows: "dev", StationWindows: "st", Late: "late"}}
	p := &publisher{topics: topics, metrics: met}
	m := p.stageMetrics("windows")
	emitted := time.Now().Add(-time.Second).UnixMilli()
	for _, r := range []*kgo.Record{
		{Topic: topics.DeviceWindows, Context: m.row(m.devices, 1, emitted)},
		{Topic: topics.DeviceWindows, Context: m.row(m.devices, 1, emitted)},
		{Topic: topics.DeviceWindows, Context: m.row(m.devices, 3, emitted)},
		{Topic: topics.StationWindows, Context: m.row(m.stations, 1, emitted)},
		{Topic: topics.StationWindows, Context: m.row(m.stations, 2, emitted)},
		{Topic: topics.Late, Context: m.lateReading()},
		// Published by no stage (franz-go gives a record the produce
		// call's context when it has none): not counted.
		{Topic: topics.DeviceWindows, Context: context.Background()},
	} {
		p.onPublished(r)
	}
	for _, tc := range []struct {
		topic, kind string
		want        float64
	}{
		{"dev", "first", 2}, {"dev", "correction", 1}, {"st", "first", 1}, {"st", "correction", 1}, {"late", "late", 1},
	} {
		if got := written(t, met.published.WithLabelValues(tc.topic, tc.kind)).GetCounter().GetValue(); got != tc.want {
			t.Errorf("turnstile_published_total{topic=%q, kind=%q} = %v, want %v", tc.topic, tc.kind, got, tc.want)
		}
	}
	// Five window rows, each about a second after its close.
	h := written(t, met.closeLatency.WithLabelValues("windows").(prometheus.Metric)).GetHistogram()
	if c, s := h.GetSampleCount(), h.GetSampleSum(); c != 5 || s < 5*0.9 || s > 5*10 {
		t.Fatalf("close latency: %d samples summing %.1f s, want 5 of about a second", c, s)
	}
}

func written(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	return &d
}
