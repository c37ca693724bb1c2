package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
)

// runScaling runs the pipeline with k in-process members (one process, one
// embedded broker, separate local state) on a fresh broker. The members
// join first (so goka's rebalances are not measured); then the input is
// produced at full speed while they process it, and the run is timed from
// the first reading ingested to the last window on the sink topics.
func runScaling(ctx context.Context, cfg *Config, k int, say func(string, ...any)) (Variant, error) {
	v := Variant{Name: fmt.Sprintf("ours, %d member(s)", k), Members: k, Readings: cfg.ScalingReadings}
	dir := filepath.Join(cfg.Dir, fmt.Sprintf("scaling-%d", k))
	e, err := startEnv(ctx, dir, cfg.Logger)
	if err != nil {
		return v, err
	}
	defer e.close()
	topics := processors.DefaultTopics()
	if err := e.createTopic(ctx, topics.Input, int32(cfg.Partitions), nil); err != nil {
		return v, err
	}
	m, err := startMembers(ctx, e, cfg, filepath.Join(dir, "state"), k)
	if err != nil {
		return v, err
	}
	defer m.stop()
	wctx, cancel := context.WithTimeout(ctx, min(cfg.PhaseTimeout, 2*time.Minute))
	defer cancel()
	begin := time.Now()
	if err := groupsStable(wctx, e.adm, k, pipelineGroups()...); err != nil {
		return v, err
	}
	v.StartupSeconds = time.Since(begin).Seconds()
	say("scaling: %d member(s) joined in %.1fs; producing %d readings", k, v.StartupSeconds, cfg.ScalingReadings)
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	f, err := followStations(fctx, e, topics.StationWindows)
	if err != nil {
		return v, err
	}
	rss := startRSSPeak()
	first := make(chan time.Time, 1)
	ferr := make(chan error, 1)
	go func() {
		t, err := m.waitIn(wctx, processors.StageIngest, 1, 5*time.Millisecond)
		ferr <- err
		first <- t
	}()
	exp, err := produceStream(ctx, e, cfg, topics.Input, cfg.ScalingReadings)
	if err != nil {
		return v, err
	}
	want, wantSt := exp.devices, exp.stations
	if err := <-ferr; err != nil {
		return v, err
	}
	t0 := <-first
	u0 := processUsage()
	end, err := waitSinks(wctx, e, f, topics, exp)
	if err != nil {
		return v, m.explain(err)
	}
	v.finish(t0, end, u0)
	// The members used CPU before production ended too: a per-reading
	// figure from here would be wrong, so there is none.
	v.CPUPerReading = 0
	v.RSSPeakMiB = rss.done()
	if err := checkOurs(ctx, e, &v, topics, f); err != nil {
		return v, err
	}
	if v.Devices != want || *v.Stations != wantSt {
		return v, fmt.Errorf("bench: scaling with %d members: published windows differ from the expected ones:\n  device windows  got %v\n                  want %v\n  station windows got %v\n                  want %v",
			k, v.Devices, want, *v.Stations, wantSt)
	}
	say("scaling: %d member(s): %.0f readings/s", k, v.PerSecond)
	return v, nil
}

// produceStream produces n readings of the synthetic stream to topic at
// full speed and returns the windows they make (computed as the limit
// does).
func produceStream(ctx context.Context, e *env, cfg *Config, topic string, n int64) (expected, error) {
	codec, err := e.readingCodec(topic)
	if err != nil {
		return expected{}, err
	}
	st, err := newStream(cfg, codec, cfg.Start)
	if err != nil {
		return expected{}, err
	}
	w := windower{size: cfg.Window.Milliseconds(), maxDelta: cfg.MaxDelta}
	devs := map[string]*deviceState{}
	roll := rollup{}
	var want Digest
	for i := int64(0); i < n; i++ {
		r, err := st.Next()
		if err != nil {
			return expected{}, fmt.Errorf("bench: synthetic stream: %w", err)
		}
		e.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}, nil)
		key := r.Reading.DeviceKey() // the sinks' device key
		s := devs[key]
		if s == nil {
			s = &deviceState{}
			devs[key] = s
		}
		if cw, ok := w.apply(s, key, r.Reading.Station, r.Reading.LineName, r.EventTime.UnixMilli(), r.Reading.Entries, r.Reading.Exits); ok {
			want.Add(cw.Device, cw.Start, cw.Entries, cw.Exits, 0)
			roll.add(cw)
		}
	}
	for key, s := range devs {
		cw := s.window(key)
		want.Add(cw.Device, cw.Start, cw.Entries, cw.Exits, 0)
		roll.add(cw)
	}
	if err := e.cl.Flush(ctx); err != nil {
		return expected{}, fmt.Errorf("bench: producing the stream: %w", err)
	}
	return expected{want, roll.digest()}, nil
}
