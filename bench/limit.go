package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Variant is one way of computing the windows of the preloaded input, and
// what it cost.
type Variant struct {
	Name     string `json:"name"`
	Members  int    `json:"members,omitempty"`
	Readings int64  `json:"readings"`
	// Seconds runs from the first fetched reading to the last closed
	// window being on the sink topic (the limit: computed in memory).
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"readings_per_s"`
	// ProcessedSeconds runs to the last reading having been applied to the
	// device windows (before the idle timeout closes the last windows).
	ProcessedSeconds float64 `json:"processed_s,omitempty"`
	// CPUPerReading is the process's CPU time (all goroutines, the
	// in-process broker included) per reading, in microseconds.
	CPUPerReading float64 `json:"cpu_us_per_reading"`
	// AllocPerReading is the bytes the process's Go heap allocated (the
	// in-process broker's too) per reading: what the garbage collector
	// has to keep up with, steadier between runs than time.
	AllocPerReading float64 `json:"alloc_bytes_per_reading,omitempty"`
	RSSPeakMiB      float64 `json:"rss_peak_mib"`
	// GoHeapPeakMiB is the part of it that was the Go heap (ours only).
	GoHeapPeakMiB float64 `json:"go_heap_peak_mib,omitempty"`
	// StartupSeconds is from starting the variant to its first fetched
	// reading (group joins, table opens); not in Seconds.
	StartupSeconds float64 `json:"startup_s"`
	Devices        Digest  `json:"device_windows"`
	Stations       *Digest `json:"station_windows,omitempty"`
	// DeviceCorrections and StationCorrections are the records with
	// REVISION > 1 that a run of our pipeline (ours, and the scaling runs)
	// published on the device and station windows topics (see deviceTally
	// and stationFollower): windows published again. On ordered input the
	// watermark closes each window once, so both should be 0 (absent from
	// the JSON); the limit publishes nothing and the usual goka way has no
	// revisions (see Duplicates).
	DeviceCorrections  int64 `json:"device_corrections,omitempty"`
	StationCorrections int64 `json:"station_corrections,omitempty"`
	// Marks are the watermark marks the input side sent (the windowed stage
	// reading the input in place; the metric's stage label is ingest): one
	// per input partition per partition, at most every MarkInterval (50 ms; 100 ms
	// reading a backlog, as here) while busy,
	// the cost of event-time progress, next to Readings.
	Marks float64 `json:"marks,omitempty"`
	// StationsDiffer says the published station windows differ from the
	// limit's (a pipeline defect; the run fails).
	StationsDiffer bool `json:"stations_differ,omitempty"`
	// Duplicates are windows published more than once (the usual goka
	// way is at-least-once), counted once.
	Duplicates int64 `json:"duplicate_windows,omitempty"`
	// Redelivered are input records goka delivered again after a
	// rebalance, which the usual goka way skipped by offset.
	Redelivered int64 `json:"redelivered,omitempty"`
}

func (v *Variant) finish(t0, end time.Time, u0 usage) {
	v.Seconds = end.Sub(t0).Seconds()
	if v.Seconds > 0 {
		v.PerSecond = float64(v.Readings) / v.Seconds
	}
	if v.Readings > 0 {
		u := processUsage()
		v.CPUPerReading = float64((u.cpu - u0.cpu).Microseconds()) / float64(v.Readings)
		v.AllocPerReading = float64(u.alloc-u0.alloc) / float64(v.Readings)
	}
}

// runLimit is "the limit": a plain franz-go consumer that decodes (and
// validates) with the same codec and computes device and station windows in
// memory: no persistence, no changelog, no watermark marks, nothing
// produced.
func runLimit(ctx context.Context, e *env, cfg *Config, topic string, n int64) (Variant, error) {
	v := Variant{Name: "limit", Readings: n}
	codec, err := e.readingCodec(topic)
	if err != nil {
		return v, err
	}
	rss := startRSSPeak()
	begin := time.Now()
	cl, err := kgo.NewClient(append(e.kafkaOpts(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return v, fmt.Errorf("bench: %w", err)
	}
	defer cl.Close()
	w := windower{size: cfg.Window.Milliseconds(), maxDelta: cfg.MaxDelta}
	devs := map[string]*deviceState{}
	roll := rollup{}
	var (
		t0  time.Time
		u0  usage
		got int64
	)
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return v, fmt.Errorf("bench: limit: %d of %d readings: %w", got, n, err)
		}
		if t0.IsZero() && fs.NumRecords() > 0 {
			t0, u0 = time.Now(), processUsage()
		}
		for it := fs.RecordIter(); !it.Done(); {
			rec := it.Next()
			got++
			r, err := codec.DecodeReading(rec.Value)
			if err != nil {
				return v, fmt.Errorf("bench: limit: offset %d: %w", rec.Offset, err)
			}
			t, err := r.ParseEventTime()
			if err != nil {
				return v, fmt.Errorf("bench: limit: %w", err)
			}
			key := r.DeviceKey()
			s := devs[key]
			if s == nil {
				s = &deviceState{}
				devs[key] = s
			}
			if cw, ok := w.apply(s, key, r.Station, r.LineName, t.UnixMilli(), r.Entries, r.Exits); ok {
				v.Devices.Add(cw.Device, cw.Start, cw.Entries, cw.Exits, 0)
				roll.add(cw)
			}
		}
	}
	for key, s := range devs {
		if s.OutOfOrder {
			return v, fmt.Errorf("bench: limit: device %s's readings are not in event-time order; the benchmark needs ordered input", key)
		}
		cw := s.window(key)
		v.Devices.Add(cw.Device, cw.Start, cw.Entries, cw.Exits, 0)
		roll.add(cw)
	}
	st := roll.digest()
	v.Stations = &st
	v.finish(t0, time.Now(), u0)
	v.StartupSeconds = t0.Sub(begin).Seconds()
	v.RSSPeakMiB = rss.done()
	return v, nil
}
