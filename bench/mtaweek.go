package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// mtaWeekDev are the flags of turnstile dev in the mtaweek phase, besides
// where it listens and keeps its data: 15-minute windows, so a reading
// every ~4 h per device is its own window; the last windows close 2 s after
// the replay ends.
var mtaWeekDev = []string{"--produce=false", "--window", "15m", "--grace", "15m", "--retention", "24h", "--idle-timeout", "2s"}

// MTAWeek is the user-felt measurement: a real MTA week produced by
// `turnstile produce --source csv --speed -1` as fast as it goes into
// `turnstile dev`, each in its own process, as a user runs them.
type MTAWeek struct {
	File string `json:"file"`
	// DevFlags are turnstile dev's flags (besides addresses and
	// directories).
	DevFlags string `json:"dev_flags"`
	Readings int64  `json:"readings"`
	Devices  int    `json:"devices"`
	Stations int    `json:"stations"`
	// DeviceWindows and StationWindows are what testsupport/reference computes
	// from the producer's own parse of the file (the same rows, event times
	// and IDs), which the sinks' latest revisions must equal.
	DeviceWindows  int64 `json:"device_windows"`
	StationWindows int64 `json:"station_windows"`
	// MTAWeekTrial holds the median trial's figures (by Ratio), the
	// ones the goal is checked against: the machine is shared, and one
	// run's ratio moves by ±0.2.
	MTAWeekTrial
	// BuildS is the build of the binary (when it was built), not
	// measured.
	BuildS float64 `json:"build_s,omitempty"`
	// Trials are the week's runs with DevFlags, each with a turnstile dev
	// and a lake of its own.
	Trials []MTAWeekTrial `json:"trials"`
	// NoLake is one more run with dev's lake-writer off (--lake=false):
	// context for the goal, how much of dev's time the lake's files are.
	NoLake *MTAWeekTrial `json:"no_lake,omitempty"`
}

// MTAWeekTrial is one run of the week.
type MTAWeekTrial struct {
	// ProducerS is from starting turnstile produce to its exit: its own
	// time. FirstReadingS is from starting it to the first reading on the
	// input topic; EndToEndS to the last window on the sink topics.
	ProducerS     float64 `json:"producer_s"`
	FirstReadingS float64 `json:"first_reading_s"`
	EndToEndS     float64 `json:"end_to_end_s"`
	// Ratio is EndToEndS ÷ ProducerS (goal: at most 1.5).
	Ratio     float64 `json:"end_to_end_over_producer"`
	PerSecond float64 `json:"end_to_end_readings_per_s"`
	// DevStartupS is from starting turnstile dev to its /readyz, not
	// measured.
	DevStartupS float64 `json:"dev_startup_s"`
	// DevCPUS is the CPU time (user and system, all cores) turnstile dev
	// used from starting the producer until every window was on the
	// sinks; ProducerCPUS is the producer's over its life. With the two
	// on the same cores, they say what the end-to-end time is made of.
	// Zero where /proc is not there.
	DevCPUS      float64 `json:"dev_cpu_s,omitempty"`
	ProducerCPUS float64 `json:"producer_cpu_s,omitempty"`
	// DevPeakRSSMiB is turnstile dev's peak resident set (VmHWM) when
	// every window was on the sinks.
	DevPeakRSSMiB      float64 `json:"dev_peak_rss_mib,omitempty"`
	DeviceCorrections  int64   `json:"device_corrections"`
	StationCorrections int64   `json:"station_corrections"`
}

// median sets w's figures from its median trial by ratio (the lower
// middle one of an even number).
func (w *MTAWeek) median() {
	if len(w.Trials) == 0 {
		return
	}
	ts := slices.Clone(w.Trials)
	slices.SortStableFunc(ts, func(a, b MTAWeekTrial) int { return cmp.Compare(a.Ratio, b.Ratio) })
	w.MTAWeekTrial = ts[(len(ts)-1)/2]
}

// mtaWeekEstimate is the phase's expected duration in seconds: 0 without
// the file (it is skipped).
func (cfg *Config) mtaWeekEstimate() float64 {
	if _, err := os.Stat(cfg.MTAWeek); err != nil {
		return 0
	}
	// A trial is ~15 s: dev's start, the week, the checks. The reference
	// (~5 s) is computed once.
	secs := 5 + 15*float64(cfg.MTAWeekTrials)
	if cfg.MTAWeekNoLake {
		secs += 15
	}
	if cfg.TurnstileBin == "" {
		secs += 20 // a build, mostly from the cache
	}
	return secs
}

// runMTAWeek replays cfg.MTAWeek with turnstile produce into turnstile dev
// (the binary cfg.TurnstileBin, or built from ./cmd/turnstile), each in its
// own process on free ports, cfg.MTAWeekTrials times (and once more with
// dev's lake-writer off when cfg.MTAWeekNoLake), and reports the median
// trial: see weekRuns.run.
func runMTAWeek(ctx context.Context, cfg *Config, say func(string, ...any)) (w MTAWeek, err error) {
	w.File, w.DevFlags = cfg.MTAWeek, strings.Join(mtaWeekDev, " ")
	dir := filepath.Join(cfg.Dir, "mtaweek")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return w, fmt.Errorf("bench: mtaweek: %w", err)
	}
	bin := cfg.TurnstileBin
	if bin == "" {
		began := time.Now()
		bin = filepath.Join(dir, "turnstile")
		b := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/turnstile")
		if out, err := b.CombinedOutput(); err != nil {
			return w, fmt.Errorf("bench: mtaweek: go build ./cmd/turnstile (run from the repository's root, or give --turnstile-bin): %w\n%s", err, out)
		}
		w.BuildS = time.Since(began).Seconds()
		say("mtaweek: built %s in %.1fs", bin, w.BuildS)
	}
	r := &weekRuns{cfg: cfg, bin: bin, w: &w, say: say}
	for i := range max(1, cfg.MTAWeekTrials) {
		t, err := r.run(ctx, filepath.Join(dir, fmt.Sprintf("trial-%d", i+1)))
		if err != nil {
			return w, err
		}
		w.Trials = append(w.Trials, t)
	}
	w.median()
	if len(w.Trials) > 1 {
		say("mtaweek: median of %d trials: %.2f × the producer's time (%.1f s ÷ %.1f s)", len(w.Trials), w.Ratio, w.EndToEndS, w.ProducerS)
	}
	if cfg.MTAWeekNoLake {
		t, err := r.run(ctx, filepath.Join(dir, "no-lake"), "--lake=false")
		if err != nil {
			return w, err
		}
		w.NoLake = &t
	}
	return w, nil
}

// weekRuns runs the week for runMTAWeek, each run with the same binary
// and the same reference.
type weekRuns struct {
	cfg  *Config
	bin  string
	w    *MTAWeek  // the file's sizes, set by the first run
	want *expected // computed by the first run
	say  func(string, ...any)
}

// run runs the week once in dir, dev with mtaWeekDev and extra, and times the producer and the moment every window
// testsupport/reference computes from the same rows is on the sink
// topics: the device windows topic holds as many records, and the station
// windows' latest revisions equal the reference's (as in the throughput
// phase). Then it checks the device windows' latest revisions too. The
// reference is computed in the first run, before its clock starts, and
// kept for the others. dev's data directory is removed after the run; its
// logs and lake stay.
func (r *weekRuns) run(ctx context.Context, dir string, extra ...string) (t MTAWeekTrial, err error) {
	cfg, bin, w, say := r.cfg, r.bin, r.w, r.say
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return t, fmt.Errorf("bench: mtaweek: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(filepath.Join(dir, "data")); rerr != nil && err == nil {
			err = fmt.Errorf("bench: mtaweek: %w", rerr)
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return t, err
	}
	kafka, reg, httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	conn := []string{"--brokers", kafka, "--registry-url", reg}

	devStart := time.Now()
	dev, err := startProc(bin, filepath.Join(dir, "dev.log"), append(append(append([]string{"dev", "--data-dir", filepath.Join(dir, "data"),
		"--lake-dir", filepath.Join(dir, "lake"), "--http-addr", httpAddr}, conn...), mtaWeekDev...), extra...)...)
	if err != nil {
		return t, err
	}
	defer func() {
		if serr := dev.stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	// A week takes ~5 s end to end; a window that never comes must not
	// hold the run for long.
	wctx, cancel := context.WithTimeout(ctx, min(cfg.PhaseTimeout, 2*time.Minute))
	defer cancel()
	if err := waitReady(wctx, "http://"+httpAddr+"/readyz", dev); err != nil {
		return t, err
	}
	t.DevStartupS = time.Since(devStart).Seconds()
	e, err := connectEnv([]string{kafka}, reg, cfg.Logger)
	if err != nil {
		return t, err
	}
	defer e.close()
	topics := processors.DefaultTopics()

	// What the sinks must hold, from the producer's own parse of the file,
	// computed before the clock starts.
	if r.want == nil {
		ref, err := mtaWeekReference(e, cfg.MTAWeek, w)
		if err != nil {
			return t, err
		}
		r.want = &ref
		say("mtaweek: %s: %d readings, %d devices, %d stations: %d device and %d station windows expected (testsupport/reference)",
			filepath.Base(cfg.MTAWeek), w.Readings, w.Devices, w.Stations, w.DeviceWindows, w.StationWindows)
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	f, err := followStations(fctx, e, topics.StationWindows)
	if err != nil {
		return t, err
	}

	devProc := fmt.Sprintf("/proc/%d", dev.cmd.Process.Pid)
	devCPU0 := procCPU(devProc)
	t0 := time.Now()
	prod, err := startProc(bin, filepath.Join(dir, "produce.log"), append([]string{"produce", "--source", "csv", "--file", cfg.MTAWeek, "--speed", "-1"}, conn...)...)
	if err != nil {
		return t, err
	}
	first := make(chan time.Time, 1)
	go func() {
		for fctx.Err() == nil {
			if ends, err := e.endOffsets(fctx, topics.Input); err == nil && ends[topics.Input] > 0 {
				first <- time.Now()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	end, err := waitSinks(wctx, e, f, topics, *r.want)
	if err != nil {
		return t, errors.Join(fmt.Errorf("bench: mtaweek: %w (logs: %s)", err, dir), prod.stop())
	}
	if c := procCPU(devProc); c > 0 {
		t.DevCPUS = (c - devCPU0).Seconds()
	}
	if kb, ok := procStatusField(devProc+"/status", "VmHWM"); ok {
		t.DevPeakRSSMiB = float64(kb) / 1024
	}
	var produced time.Time
	select {
	case perr := <-prod.exited:
		prod.exited <- perr
		if perr != nil {
			return t, fmt.Errorf("bench: mtaweek: turnstile produce: %w (log: %s)", perr, prod.log)
		}
		produced = prod.exitedAt
		t.ProducerCPUS = (prod.cmd.ProcessState.UserTime() + prod.cmd.ProcessState.SystemTime()).Seconds()
	case <-wctx.Done():
		return t, errors.Join(fmt.Errorf("bench: mtaweek: every window is on the sinks but turnstile produce has not exited (log: %s)", prod.log), prod.stop())
	}
	select {
	case at := <-first:
		t.FirstReadingS = at.Sub(t0).Seconds()
	default:
	}
	t.ProducerS = produced.Sub(t0).Seconds()
	t.EndToEndS = end.Sub(t0).Seconds()
	t.Ratio = t.EndToEndS / t.ProducerS
	t.PerSecond = float64(w.Readings) / t.EndToEndS
	say("mtaweek: %s: dev ready in %.1fs; the producer took %.1fs (%.1f s CPU); every window on the sinks after %.1fs (%.2f × the producer's time, %.0f readings/s end to end; dev %.1f s CPU, peak RSS %.0f MiB)",
		filepath.Base(dir), t.DevStartupS, t.ProducerS, t.ProducerCPUS, t.EndToEndS, t.Ratio, t.PerSecond, t.DevCPUS, t.DevPeakRSSMiB)

	ends, err := e.endOffsets(ctx, topics.Input)
	if err != nil {
		return t, err
	}
	if ends[topics.Input] != w.Readings {
		return t, fmt.Errorf("bench: mtaweek: %d records on the input topic, the file has %d readings", ends[topics.Input], w.Readings)
	}
	var v Variant
	if err := checkOurs(ctx, e, &v, topics, f); err != nil {
		return t, err
	}
	t.DeviceCorrections, t.StationCorrections = v.DeviceCorrections, v.StationCorrections
	if v.Devices != r.want.devices || *v.Stations != r.want.stations {
		return t, fmt.Errorf("bench: mtaweek: %s: the sinks' windows differ from testsupport/reference's:\n  device windows  sinks %v\n                  want  %v\n  station windows sinks %v\n                  want  %v",
			filepath.Base(dir), v.Devices, r.want.devices, *v.Stations, r.want.stations)
	}
	return t, nil
}

// mtaWeekReference reads the file as turnstile produce does (package
// producer, its defaults: event order, New York time, seed 1) and computes
// with testsupport/reference the windows turnstile dev must publish with
// mtaWeekDev's settings; it records the sizes in w.
func mtaWeekReference(e *env, path string, w *MTAWeek) (expected, error) {
	codec, err := e.readingCodec(schemas.DefaultInputTopic)
	if err != nil {
		return expected{}, err
	}
	st, err := producer.NewStream(producer.Config{Source: producer.SourceCSV, CSV: producer.CSVConfig{Path: path}, Seed: 1}, codec, time.Now(), nil)
	if err != nil {
		return expected{}, err
	}
	var rs []schemas.Reading
	devices, stations := map[string]bool{}, map[string]bool{}
	for {
		r, err := st.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return expected{}, fmt.Errorf("bench: mtaweek: %w", err)
		}
		rs = append(rs, r.Reading)
		devices[r.Reading.DeviceKey()], stations[r.Reading.StationKey()] = true, true
	}
	w.Readings, w.Devices, w.Stations = int64(len(rs)), len(devices), len(stations)
	// The pipeline's defaults (max delta, cumulative counters, windows
	// aligned to the epoch) with the phase's window.
	pipe := processors.Config{Window: 15 * time.Minute}
	pipe.Defaults()
	window := pipe.Window.Milliseconds()
	refs := reference.FromSchemas(rs)
	devs := reference.Devices(reference.Params{SizeMs: window, SlideMs: window, Cumulative: true, MaxDelta: pipe.MaxDelta}, refs)
	var want expected
	for k, row := range devs {
		want.devices.Add(k.Device, k.Start, row.Entries, row.Exits, 0)
	}
	for k, row := range reference.StationsOf(devs, refs) {
		want.stations.Add(k.Station+"|"+k.Line, k.Start, row.Entries, row.Exits, int64(row.Devices))
	}
	w.DeviceWindows, w.StationWindows = want.devices.Windows, want.stations.Windows
	return want, nil
}

// proc is a turnstile command run by the mtaweek phase, its output in a
// log file.
type proc struct {
	cmd      *exec.Cmd
	log      string
	exited   chan error // holds Wait's result once it has exited
	exitedAt time.Time  // set before exited is
}

// startProc runs bin with args, stdout and stderr to log, with no
// TURNSTILE_* variables from this environment (the flags say everything).
func startProc(bin, log string, args ...string) (*proc, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	p := &proc{cmd: exec.Command(bin, args...), log: log, exited: make(chan error, 1)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TURNSTILE_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: %s %s: %w", bin, args[0], err)
	}
	go func() {
		err := p.cmd.Wait()
		p.exitedAt = time.Now()
		p.exited <- err
	}()
	return p, nil
}

// stop sends SIGTERM (as Ctrl-C does) and waits up to 30 s for a clean
// exit; a process that already exited is not an error to stop.
func (p *proc) stop() error {
	select {
	case err := <-p.exited:
		p.exited <- err
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			return fmt.Errorf("bench: %s: %w (log: %s)", p.cmd.Args[1], err, p.log)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("bench: %s did not stop on SIGTERM (log: %s)", p.cmd.Args[1], p.log)
	}
}

// waitReady polls url until it answers 200, or p exits.
func waitReady(ctx context.Context, url string, p *proc) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			return fmt.Errorf("bench: turnstile %s exited before it was ready: %v (log: %s)", p.cmd.Args[1], err, p.log)
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for %s: %w (log: %s)", url, ctx.Err(), p.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts are n loopback ports free a moment ago.
func freePorts(n int) ([]int, error) {
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
