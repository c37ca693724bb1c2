package systest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestAlignmentHoldsAFastPartition: a backlog, in place (each reading on
// its station's partition, as our producer puts it), whose two input
// partitions cover event time at different rates: one station has 3
// devices, the other 30, over the same eight days. Read at the same pace in
// readings, the sparse partition races days ahead. Watermark alignment
// must pause it (through the real consumer group) and resume it, and the
// result must be exact with every window published once.
func TestAlignmentHoldsAFastPartition(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := s.config(t)
	cfg.Partitions = 2
	cfg.AlignDrift = time.Hour
	cfg.Retention = 24 * time.Hour
	// Small fetches: what was fetched before a pause is still applied.
	cfg.Sarama = func(sc *sarama.Config) error {
		sc.Consumer.Fetch.Default = 16 << 10
		return nil
	}
	full := cfg
	full.Defaults()
	if _, _, err := processors.EnsureTopics(ctx, kadm.NewClient(s.client), full.TopicSpecs(), 1); err != nil {
		t.Fatal(err)
	}

	// Two stations on different partitions.
	var stations []string
	seen := map[int32]bool{}
	for i := 0; len(stations) < 2; i++ {
		name := fmt.Sprintf("STATION %d", i)
		if p := schemas.Partition(schemas.StationKey(name, "NQR"), cfg.Partitions); !seen[p] {
			seen[p] = true
			stations = append(stations, name)
		}
	}
	codec := inputCodec(t, s)
	// Small batches: a fetch returns whole batches, so a batch is what a
	// pause cannot hold back.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(rs []schemas.Reading) {
		for _, r := range rs { // each station's in event order
			v, err := codec.EncodeReading(&r)
			if err != nil {
				t.Fatal(err)
			}
			cl.Produce(ctx, &kgo.Record{Topic: full.Topics.Input, Partition: schemas.Partition(r.Key(), cfg.Partitions),
				Key: []byte(r.Key()), Value: v}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const head = 10 // readings per device before the member starts
	sparse, dense := stationReadings(stations[0], 3, 3000), stationReadings(stations[1], 30, 3000)
	produce(append(slices.Clone(sparse[:3*head]), dense[:30*head]...))

	reg := prometheus.NewRegistry()
	metrics, err := processors.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	runMember(t, ctx, cancel, cfg, metrics)
	// Alignment needs a watermark: every source heard from. Then the rest,
	// the sparse partition's first, so that it can race ahead.
	for deadline := time.Now().Add(30 * time.Second); metricCount(t, reg, "turnstile_watermark_seconds") < cfg.Partitions; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no watermark on every partition after 30s")
		}
	}
	produce(append(slices.Clone(sparse[3*head:]), dense[30*head:]...))
	readings := append(sparse, dense...)
	checkSinks(t, ctx, s, reference.FromSchemas(readings))
	// In event order within each partition: nothing is late, so every
	// window is published once.
	dev, st := testenv.CheckRevisions(t, ctx, s.sinks(), nil, nil)
	if dev+st != 0 {
		t.Errorf("%d device and %d station windows revised; every window should be published once", dev, st)
	}
	if n := metricValue(t, reg, "turnstile_input_pauses_total"); n == 0 {
		t.Error("no input partition was paused: the sparse partition ran ahead unaligned")
	} else {
		t.Logf("input partitions paused %v times", n)
	}
	if n := metricValue(t, reg, "turnstile_input_paused"); n != 0 {
		t.Errorf("%v input partitions still paused after the backlog", n)
	}
}

// stationReadings are cumulative readings of devices devices of one
// station, one every 4 minutes each, n per device, in event order.
func stationReadings(station string, devices, n int) []schemas.Reading {
	base := time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	var out []schemas.Reading
	for i := range n {
		for d := range devices {
			r := schemas.Reading{CA: "A" + station[len(station)-1:], Unit: "R001", SCP: fmt.Sprintf("02-00-%02d", d), Station: station, LineName: "NQR",
				Division: "BMT", Desc: "REGULAR", Entries: int64(1000*d + 7*i), Exits: int64(500*d + 3*i),
				ID: fmt.Sprintf("%s-%d-%d", station, d, i)}
			r.SetTimes(base.Add(time.Duration(i)*4*time.Minute + time.Duration(d)*time.Second))
			out = append(out, r)
		}
	}
	return out
}
