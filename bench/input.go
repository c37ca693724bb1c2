package bench

import (
	"context"
	"fmt"
	"io"
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

// perBoothCap is the most devices a booth gets: the default 5,000 devices
// spread over the station reference's 768 booths give 7 per booth (about 11
// per station, as in the MTA's weeks: 5,026 devices, 478 stations).
const perBoothCap = 7

// layoutFor spreads devices over copies of the station reference's 768
// booths: as few devices per booth as possible, then as many booths as
// needed, up to perBoothCap per booth. Beyond 768 × perBoothCap devices the
// reference is repeated (replicas), each copy's stations renamed, so that
// stations grow with devices (200,000 devices: 38 copies, ~17,800 stations)
// rather than each station holding ever more devices. At most 5,376
// devices is one copy: the stream is the producer's synthetic stream,
// unchanged.
func layoutFor(devices int) (replicas, booths, perBooth int) {
	const all = 768
	perBooth = min(perBoothCap, max(1, (devices+all-1)/all))
	total := (devices + perBooth - 1) / perBooth
	replicas = (total + all - 1) / all
	return replicas, (total + replicas - 1) / replicas, perBooth
}

// stream is the synthetic MTA-shaped stream of a Config: cumulative
// registers, a reading per device every Interval, booths staggered, ordered
// by event time. Each replica is the producer's synthetic stream over the
// same booths with its own seed; replica k > 0 renames its stations
// ("STATION #k+1") and booths ("CA-k+1", "UNIT-k+1"), so its devices and
// stations are new ones, and its records are re-encoded. The replicas are
// merged by event time (then replica). The same Config gives the same
// records. Not safe for concurrent use.
type stream struct {
	codec *codecs.ReadingCodec
	parts []*producer.Stream
	// heads are each replica's next record; ok says there is one.
	heads []producer.Record
	ok    []bool
}

// newStream is the synthetic stream of cfg (see stream) from start.
func newStream(cfg *Config, codec *codecs.ReadingCodec, start time.Time) (*stream, error) {
	replicas, booths, per := layoutFor(cfg.Devices)
	s := &stream{codec: codec, heads: make([]producer.Record, replicas), ok: make([]bool, replicas)}
	for k := 0; k < replicas; k++ {
		p, err := producer.NewStream(producer.Config{
			Seed: cfg.Seed + int64(k),
			Synthetic: producer.SyntheticConfig{Start: start, Interval: cfg.Interval, DevicesPerBooth: per, MaxBooths: booths,
				Counters: producer.CountersCumulative, SourceLabel: "bench"},
		}, codec, start, nil)
		if err != nil {
			return nil, err
		}
		s.parts = append(s.parts, p)
		if err := s.advance(k); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// advance reads replica k's next record into its head, renamed.
func (s *stream) advance(k int) error {
	r, err := s.parts[k].Next()
	if err == io.EOF {
		s.ok[k] = false
		return nil
	}
	if err != nil {
		return err
	}
	if k > 0 {
		x := &r.Reading
		x.Station = fmt.Sprintf("%s #%d", x.Station, k+1)
		x.CA = fmt.Sprintf("%s-%d", x.CA, k+1)
		x.Unit = fmt.Sprintf("%s-%d", x.Unit, k+1)
		if r.Value, err = s.codec.EncodeReading(x); err != nil {
			return fmt.Errorf("bench: synthetic stream: %w", err)
		}
		r.Key = []byte(x.Key())
	}
	s.heads[k], s.ok[k] = r, true
	return nil
}

// Next is the next record: the earliest of the replicas' heads.
func (s *stream) Next() (producer.Record, error) {
	k := -1
	for i, ok := range s.ok {
		if ok && (k < 0 || s.heads[i].EventTime.Before(s.heads[k].EventTime)) {
			k = i
		}
	}
	if k < 0 {
		return producer.Record{}, io.EOF
	}
	r := s.heads[k]
	return r, s.advance(k)
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
