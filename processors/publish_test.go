package processors

import (
	"bytes"
	"context"
	"fmt"
	"strings"
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
		{Topic: topics.DeviceWindows, Context: rowCtx(m.row(m.devices, 1, emitted))},
		{Topic: topics.DeviceWindows, Context: rowCtx(m.row(m.devices, 1, emitted))},
		{Topic: topics.DeviceWindows, Context: rowCtx(m.row(m.devices, 3, emitted))},
		{Topic: topics.StationWindows, Context: rowCtx(m.row(m.stations, 1, emitted))},
		{Topic: topics.StationWindows, Context: rowCtx(m.row(m.stations, 2, emitted))},
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

func rowCtx(info publishInfo) context.Context {
	return &rowContext{info: info}
}

// TestRowSlabKeepsEveryRecord: records handed out by a slab keep their
// key, value and context while later rows outgrow its estimates (the byte
// array is then copied, and the records fill more than one chunk; what
// was handed out must not change).
func TestRowSlabKeepsEveryRecord(t *testing.T) {
	s := &rowSlab{}
	s.grow(1) // room for rowBytes of keys and values
	type want struct{ key, value string }
	var recs []*kgo.Record
	var wants []want
	for i := range 2*slabChunk + 10 {
		k := len(s.buf)
		s.buf = fmt.Appendf(s.buf, "key-%d", i)
		v := len(s.buf)
		s.buf = append(s.buf, bytes.Repeat([]byte{byte('a' + i%26)}, 10*i)...)
		recs = append(recs, s.add("topic", k, v, publishInfo{emittedAt: int64(i)}))
		wants = append(wants, want{fmt.Sprintf("key-%d", i), strings.Repeat(string(rune('a'+i%26)), 10*i)})
	}
	for i, r := range recs {
		c, ok := r.Context.(*rowContext)
		if string(r.Key) != wants[i].key || string(r.Value) != wants[i].value || !ok || c.info.emittedAt != int64(i) || r.Topic != "topic" {
			t.Fatalf("record %d: key %q value %q context %v, want %+v", i, r.Key, r.Value, r.Context, wants[i])
		}
		if cap(r.Key) != len(r.Key) || cap(r.Value) != len(r.Value) {
			t.Fatalf("record %d: key or value can grow into the next row's bytes", i)
		}
	}
}

// TestRowSlabRecordsStayPut: the producer writes into a record it buffers
// (its partition, its timestamp) while the relay adds the next changelog
// record's rows to the slab; adding must never copy a record handed out
// (under the race detector, a copy is a reported race).
func TestRowSlabRecordsStayPut(t *testing.T) {
	s := &rowSlab{}
	first := s.add("topic", 0, 0, publishInfo{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			first.Partition = int32(i) // as franz-go's bufferRecord does
		}
	}()
	for range 4 * slabChunk {
		s.add("topic", 0, 0, publishInfo{})
	}
	<-done
	if first != &s.chunks[0][0].rec {
		t.Fatal("the first record moved")
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

// TestRowSlabReset: a slab emptied after the relay's flush keeps its
// arrays, so a batch no larger than an earlier one fills the same ones.
func TestRowSlabReset(t *testing.T) {
	var s rowSlab
	fill := func() {
		s.grow(20)
		for i := range 20 {
			k := len(s.buf)
			s.buf = fmt.Appendf(s.buf, "key-%d", i)
			v := len(s.buf)
			s.buf = append(s.buf, "value"...)
			s.add("topic", k, v, publishInfo{emittedAt: int64(i)})
		}
	}
	fill()
	recs, buf := &s.chunks[0][0], &s.buf[0]
	s.reset()
	if s.n != 0 || len(s.buf) != 0 || s.chunks[0][0].rec.Key != nil {
		t.Fatalf("a reset slab holds %d records and %d bytes", s.n, len(s.buf))
	}
	fill()
	if &s.chunks[0][0] != recs || &s.buf[0] != buf || len(s.chunks) != 1 {
		t.Error("a batch no larger than the last one went into new arrays")
	}
}

// TestRowContextReadsNothing: franz-go may ask a record's context whether
// it is done after the record's promise, from a goroutine of its own,
// while the relay's next batch already reuses the slab that holds it
// (TestRowSlabReset). Its context methods must not read it: here they are
// called on a nil one, which any read would panic on.
func TestRowContextReadsNothing(t *testing.T) {
	var c *rowContext
	var ctx context.Context = c
	if _, ok := ctx.Deadline(); ok || ctx.Done() != nil || ctx.Err() != nil || ctx.Value("key") != nil {
		t.Error("a row's context is not a context that is never done and carries no values")
	}
}
