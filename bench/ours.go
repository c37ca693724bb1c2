package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
)

// pipelineConfig is the pipeline as `turnstile process` runs it, with the
// benchmark's window settings.
func (cfg *Config) pipelineConfig(e *env, stateDir string) processors.Config {
	return processors.Config{
		Brokers: e.brokers(), KafkaOpts: e.kafkaOpts(), Registry: e.sr,
		Partitions: cfg.Partitions, Window: cfg.Window, Grace: cfg.Grace, Retention: cfg.Retention, MaxDelta: cfg.MaxDelta,
		IdleTimeout: cfg.IdleTimeout, TickInterval: cfg.TickInterval, MarkInterval: cfg.MarkInterval, AlignDrift: cfg.AlignDrift, MaxFuture: -1,
		State: state.Options{Dir: stateDir, RecoverOnOpen: cfg.RecoverOnOpen}, Logger: cfg.Logger,
	}
}

// members are in-process pipeline members, each with its own local state
// and metrics.
type members struct {
	regs   []*prometheus.Registry
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

func startMembers(ctx context.Context, e *env, cfg *Config, stateDir string, n int) (*members, error) {
	ctx, cancel := context.WithCancel(ctx)
	m := &members{cancel: cancel}
	for i := 0; i < n; i++ {
		reg := prometheus.NewRegistry()
		met, err := processors.NewMetrics(reg)
		if err != nil {
			cancel()
			return nil, err
		}
		p, err := processors.New(cfg.pipelineConfig(e, filepath.Join(stateDir, fmt.Sprintf("member-%d", i))), met)
		if err != nil {
			cancel()
			return nil, err
		}
		m.regs = append(m.regs, reg)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			if err := p.Run(ctx); err != nil {
				m.mu.Lock()
				m.errs = append(m.errs, fmt.Errorf("member %d: %w", i, err))
				m.mu.Unlock()
				cancel()
			}
		}()
	}
	return m, nil
}

// in is the number of records the stage's callbacks saw, over all members.
func (m *members) in(stage string) float64 {
	return m.counter("turnstile_records_in_total", "stage", stage)
}

// counter sums a counter over all members, restricted to one label value
// unless label is "".
func (m *members) counter(name, label, value string) float64 {
	var n float64
	for _, reg := range m.regs {
		mfs, err := reg.Gather()
		if err != nil {
			continue
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, mt := range mf.GetMetric() {
				ok := label == ""
				for _, l := range mt.GetLabel() {
					ok = ok || l.GetName() == label && l.GetValue() == value
				}
				if ok {
					n += mt.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

func (m *members) failed() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// stop cancels the members and waits for them to shut down cleanly.
func (m *members) stop() error {
	m.cancel()
	m.wg.Wait()
	return m.failed()
}

// waitIn polls until the stage has seen at least n records.
func (m *members) waitIn(ctx context.Context, stage string, n float64, every time.Duration) (time.Time, error) {
	for {
		if m.in(stage) >= n {
			return time.Now(), nil
		}
		if err := m.failed(); err != nil {
			return time.Time{}, err
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("bench: waiting for %s to see %v records (saw %v): %w", stage, n, m.in(stage), ctx.Err())
		case <-time.After(every):
		}
	}
}

// explain adds the pipeline's counters that tell why windows are missing.
func (m *members) explain(err error) error {
	return fmt.Errorf("%w\n  pipeline counters: ingested %.0f, windowed stage %.0f, late %.0f, rejected %.0f, idle advances %.0f",
		err, m.in(processors.StageIngest), m.in(processors.StageWindows),
		m.counter("turnstile_late_total", "", ""), m.counter("turnstile_rejected_total", "", ""),
		m.counter("turnstile_idle_advances_total", "", ""))
}

// expected is what a pipeline run must publish.
type expected struct {
	devices, stations Digest
}

// runOurs runs the pipeline with n members over the preloaded input and
// measures from the first reading ingested to the last window (device and
// station) on its sink topic, then checks what was published. The members
// are left running for the caller to stop (the restore phase restarts them).
func runOurs(ctx context.Context, e *env, cfg *Config, stateDir string, n int, readings int64, want expected,
	say func(string, ...any), profile bool) (Variant, *members, error) {
	v := Variant{Name: "ours", Members: n, Readings: readings}
	topics := processors.DefaultTopics()
	rss := startRSSPeak()
	if profile {
		stop, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			return v, nil, err
		}
		defer stop()
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	f, err := followStations(fctx, e, topics.StationWindows)
	if err != nil {
		return v, nil, err
	}
	begin := time.Now()
	m, err := startMembers(ctx, e, cfg, stateDir, n)
	if err != nil {
		return v, nil, err
	}
	fail := func(err error) (Variant, *members, error) {
		if serr := m.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return v, nil, err
	}
	t0, err := m.waitIn(ctx, processors.StageIngest, 1, 5*time.Millisecond)
	if err != nil {
		return fail(err)
	}
	u0 := processUsage()
	v.StartupSeconds = t0.Sub(begin).Seconds()
	say("ours (%d member(s)): first reading after %.1fs", n, v.StartupSeconds)

	// Progress while the sinks fill; see waitSinks for the end.
	wctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	stopProgress := make(chan struct{})
	var processedAt time.Time
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-stopProgress:
				return
			case now := <-tick.C:
				w := m.in(processors.StageWindows)
				if processedAt.IsZero() && w >= float64(readings) {
					processedAt = now
				}
				if now.Sub(last) >= 5*time.Second {
					last = now
					say("ours: %.0f of %d readings through device windows (%.0f/s)", w, readings, w/now.Sub(t0).Seconds())
				}
			}
		}
	}()
	end, err := waitSinks(wctx, e, f, topics, want)
	close(stopProgress)
	pwg.Wait()
	if err != nil {
		return fail(m.explain(err))
	}
	v.finish(t0, end, u0)
	if !processedAt.IsZero() {
		v.ProcessedSeconds = processedAt.Sub(t0).Seconds()
	}
	v.RSSPeakMiB = rss.done()
	v.GoHeapPeakMiB = rss.heapPeak()
	v.Marks = m.counter("turnstile_marks_sent_total", "stage", processors.StageIngest)
	if profile && cfg.HeapProfile != "" {
		if err := writeHeapProfile(cfg.HeapProfile); err != nil {
			return fail(err)
		}
	}
	say("ours (%d member(s)): %d readings in %.1fs: %.0f readings/s; checking the sink topics", n, readings, v.Seconds, v.PerSecond)
	if err := checkOurs(ctx, e, &v, topics, f); err != nil {
		return fail(err)
	}
	return v, m, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// sinkStall is how long waitSinks waits with no new record on either sink
// topic before it gives up: windows flow continuously while a pipeline
// works through its input, so a silence this long means the rest will not
// come (readings went to the late topic, say), and the phases after it
// keep their share of the budget.
const sinkStall = 30 * time.Second

// waitSinks returns when the last expected window is on its sink topic:
// the device windows topic holds as many records as there are windows (one
// each: emit final, ordered input; checked afterwards), seen from its high
// watermarks, so nothing competes with the pipeline for the CPU by reading
// it; the station windows' latest revisions match (see stationFollower).
// It fails when ctx ends or when neither sink topic grew for sinkStall.
func waitSinks(ctx context.Context, e *env, f *stationFollower, topics processors.Topics, want expected) (time.Time, error) {
	return waitSinksStall(ctx, e, f, topics, want, sinkStall)
}

func waitSinksStall(ctx context.Context, e *env, f *stationFollower, topics processors.Topics, want expected, stall time.Duration) (time.Time, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		var last [2]int64
		changed := time.Now()
		for {
			select {
			case <-sctx.Done():
				return
			case <-time.After(min(time.Second, stall/4)):
			}
			ends, err := e.endOffsets(sctx, topics.DeviceWindows)
			if err != nil {
				continue
			}
			f.mu.Lock()
			now := [2]int64{ends[topics.DeviceWindows], f.records}
			f.mu.Unlock()
			if now != last {
				last, changed = now, time.Now()
			} else if time.Since(changed) >= stall {
				cancel(fmt.Errorf("bench: no new window on the sink topics for %v (%d device window records, %d station window records)", stall, now[0], now[1]))
				return
			}
		}
	}()
	fail := func(err error) error {
		if c := context.Cause(sctx); c != nil && ctx.Err() == nil {
			return fmt.Errorf("%w; %w", c, err)
		}
		return err
	}
	dev, err := e.waitEnds(sctx, map[string]int64{topics.DeviceWindows: want.devices.Windows}, 20*time.Millisecond)
	if err != nil {
		return dev, fail(err)
	}
	st, err := f.wait(sctx, want.stations)
	if st.Before(dev) {
		st = dev
	}
	if err != nil {
		err = fail(err)
	}
	return st, err
}

// checkOurs reads the device windows topic and digests it by the latest
// revision of each window, counting corrections (REVISION > 1; on ordered
// input the watermark closes each device window once, so a correction is a
// pipeline defect the caller reports), and fails on dead letters or late
// readings; the station digest and corrections are the follower's.
//
// A device correction adds a record to the topic, so waitSinks' wait for
// as many records as windows can end before the last window is out; the
// station windows, which need every device window, are waited for after
// it, and a window still missing shows as a digest difference.
func checkOurs(ctx context.Context, e *env, v *Variant, topics processors.Topics, f *stationFollower) error {
	ends, err := e.endOffsets(ctx, topics.DeadLetters, topics.Late)
	if err != nil {
		return err
	}
	if ends[topics.DeadLetters] > 0 || ends[topics.Late] > 0 {
		return fmt.Errorf("bench: ours: %d dead letters and %d late readings from clean, ordered input", ends[topics.DeadLetters], ends[topics.Late])
	}
	devCodec, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: e.sr, Subject: schemas.Subject(topics.DeviceWindows)})
	if err != nil {
		return err
	}
	var t deviceTally
	pass := func(fn func(string, schemas.DeviceWindow) error) error {
		return e.consumeAll(ctx, func(r *kgo.Record) error {
			w, err := devCodec.Unmarshal(r.Value)
			if err != nil {
				return fmt.Errorf("bench: %s: %w", r.Topic, err)
			}
			return fn(string(r.Key), w)
		}, topics.DeviceWindows)
	}
	err = pass(t.first)
	if err == nil && t.needSecond() {
		err = pass(func(k string, w schemas.DeviceWindow) error { t.second(k, w); return nil })
	}
	v.Devices, v.DeviceCorrections = t.finish()
	st, corr := f.result()
	v.Stations, v.StationCorrections = &st, corr
	return err
}

// pipelineGroups are the consumer groups of a pipeline with the default
// names: its goka groups and relays.
func pipelineGroups() []string {
	var out []string
	for _, g := range (processors.Config{}).ConsumerGroups() {
		out = append(out, g.Group)
	}
	return out
}

// groupsStable waits until each consumer group is Stable with n members.
func groupsStable(ctx context.Context, adm *kadm.Client, n int, groups ...string) error {
	for {
		ds, err := adm.DescribeGroups(ctx, groups...)
		ok := err == nil
		if ok {
			for _, g := range groups {
				d, found := ds[g]
				if !found || d.Err != nil || !strings.EqualFold(d.State, "Stable") || len(d.Members) != n {
					ok = false
				}
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for groups %v to be stable with %d members: %w", groups, n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// startCPUProfile writes a pprof CPU profile of this process to path until
// stop is called; an empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
