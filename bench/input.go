package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Input describes the preloaded stream.
type Input struct {
	Source    string    `json:"source"`
	Start     time.Time `json:"stream_start"`
	Readings  int64     `json:"readings"`
	Devices   int       `json:"devices"`
	Stations  int       `json:"stations"`
	Bytes     int64     `json:"bytes"`
	EventFrom time.Time `json:"event_from"`
	EventTo   time.Time `json:"event_to"`
	Seconds   float64   `json:"preload_s"`
	PerSecond float64   `json:"preload_records_per_s"`
}

// boothsFor spreads devices over the station reference's 768 booths: as few
// devices per booth as possible, then as many booths as needed.
func boothsFor(devices int) (booths, perBooth int) {
	const all = 768
	perBooth = max(1, (devices+all-1)/all)
	return min(all, (devices+perBooth-1)/perBooth), perBooth
}

// newStream is the synthetic MTA-shaped stream: cumulative registers, a
// reading per device every Interval, booths staggered, ordered by event
// time. The same Config gives the same records.
func newStream(cfg *Config, codec *codecs.ReadingCodec, start time.Time) (*producer.Stream, error) {
	booths, per := boothsFor(cfg.Devices)
	return producer.NewStream(producer.Config{
		Seed: cfg.Seed,
		Synthetic: producer.SyntheticConfig{Start: start, Interval: cfg.Interval, DevicesPerBooth: per, MaxBooths: booths,
			Counters: producer.CountersCumulative, SourceLabel: "bench"},
	}, codec, start, nil)
}

func (e *env) readingCodec(topic string) (*codecs.ReadingCodec, error) {
	return codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: e.sr, Subject: schemas.Subject(topic)},
		MaxFuture: -1})
}

// preload writes n readings of the synthetic stream to topic (created with
// the pipeline's partition count), keyed by device with goka's partitioner.
func preload(ctx context.Context, e *env, cfg *Config, topic string, n int64, say func(string, ...any)) (Input, error) {
	in := Input{Source: "synthetic"}
	if err := e.createTopic(ctx, topic, int32(cfg.Partitions), nil); err != nil {
		return in, err
	}
	codec, err := e.readingCodec(topic)
	if err != nil {
		return in, err
	}
	in.Start = cfg.Start
	st, err := newStream(cfg, codec, in.Start)
	if err != nil {
		return in, err
	}
	devices, stations := map[string]bool{}, map[string]bool{}
	var (
		failed atomic.Value
		wg     sync.WaitGroup
	)
	started := time.Now()
	next := n / 10
	for i := int64(0); i < n; i++ {
		r, err := st.Next()
		if err != nil {
			return in, fmt.Errorf("bench: synthetic stream: %w", err)
		}
		if i == 0 {
			in.EventFrom = r.EventTime
		}
		in.EventTo = r.EventTime
		in.Bytes += int64(len(r.Value))
		if !devices[string(r.Key)] {
			devices[string(r.Key)] = true
			stations[r.Reading.StationKey()] = true
		}
		wg.Add(1)
		e.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
			wg.Done()
		})
		if i+1 == next {
			say("preload: %d of %d readings", i+1, n)
			next += n / 10
		}
	}
	if err := e.cl.Flush(ctx); err != nil {
		return in, fmt.Errorf("bench: preload: %w", err)
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return in, fmt.Errorf("bench: preload: %w", err)
	}
	in.Readings, in.Devices, in.Stations = n, len(devices), len(stations)
	in.Seconds = time.Since(started).Seconds()
	in.PerSecond = float64(n) / in.Seconds
	return in, nil
}
