package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/state"
)

// MemberEnv names the environment variable that makes the benchmark binary
// run one pipeline member (RunMember) instead of a benchmark: the memory
// phase re-executes itself with it, so the member's memory is measured
// without the broker's and the harness's. Its value is a memberSpec in
// JSON.
const MemberEnv = "TURNSTILE_BENCH_MEMBER"

// memberSpec is what a member process needs: where the broker and registry
// are, its state directory, and the pipeline settings of the run.
type memberSpec struct {
	Brokers      []string      `json:"brokers"`
	Registry     string        `json:"registry"`
	StateDir     string        `json:"state_dir"`
	Partitions   int           `json:"partitions"`
	Window       time.Duration `json:"window"`
	Grace        time.Duration `json:"grace"`
	Retention    time.Duration `json:"retention"`
	MaxDelta     int64         `json:"max_delta"`
	IdleTimeout  time.Duration `json:"idle_timeout"`
	TickInterval time.Duration `json:"tick_interval"`
	MarkInterval time.Duration `json:"mark_interval,omitempty"`
	AlignDrift   time.Duration `json:"align_drift,omitempty"`
	// Report makes the member write its progress on stdout (see
	// reportProgress).
	Report bool `json:"report,omitempty"`
	// CPUProfile, when set, receives a pprof CPU profile of the member's
	// whole run.
	CPUProfile string `json:"cpu_profile,omitempty"`
}

// RunMember runs one pipeline member, as `turnstile process` does with the
// benchmark's window settings, from spec (MemberEnv's value), until ctx
// ends.
func RunMember(ctx context.Context, spec string, log *slog.Logger) error {
	var s memberSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return fmt.Errorf("bench: %s: %w", MemberEnv, err)
	}
	// As turnstile process: the default memory budget.
	processors.ApplyMemoryLimit(processors.DefaultMemoryLimit, s.Partitions, state.Options{})
	met, err := processors.NewMetrics(nil)
	if err != nil {
		return err
	}
	kopts, err := defaultKafkaOpts(s.Brokers)
	if err != nil {
		return err
	}
	p, err := processors.New(processors.Config{
		Brokers: s.Brokers, KafkaOpts: kopts,
		Registry:   srclient.CreateSchemaRegistryClient(s.Registry),
		Partitions: s.Partitions, Window: s.Window, Grace: s.Grace, Retention: s.Retention, MaxDelta: s.MaxDelta,
		IdleTimeout: s.IdleTimeout, TickInterval: s.TickInterval, MarkInterval: s.MarkInterval, AlignDrift: s.AlignDrift, MaxFuture: -1,
		State: state.Options{Dir: s.StateDir}, Logger: log,
	}, met)
	if err != nil {
		return err
	}
	if s.Report {
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go reportProgress(rctx, met)
	}
	if s.CPUProfile != "" {
		f, err := os.Create(s.CPUProfile)
		if err != nil {
			return fmt.Errorf("bench: member: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: member: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	return p.Run(ctx)
}

// reportProgress writes a line on stdout every 20 ms: the time, the input
// records the member decoded and the readings it applied to device windows
// (turnstile_records_in_total of the stages ingest and windows).
func reportProgress(ctx context.Context, met *processors.Metrics) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			in := met.Snapshot().In
			fmt.Fprintf(os.Stdout, "progress %d %.0f %.0f\n", now.UnixNano(), in[processors.StageIngest], in[processors.StageWindows])
		}
	}
}

// memberProgress is one progress line of a member process.
type memberProgress struct {
	at                time.Time
	ingested, applied float64
}

// memberProc is the benchmark binary re-executed as one pipeline member
// (MemberEnv) against an env's broker and registry: the pipeline in its own
// process, so that its memory and CPU are measured without the broker's and
// the harness's.
type memberProc struct {
	cmd    *exec.Cmd
	proc   string // /proc/<pid>
	log    string
	exited chan error // holds Wait's result once the process has exited

	mu       sync.Mutex
	progress []memberProgress
	changed  chan struct{}
}

// startMemberProc starts a member process with cfg's pipeline settings, its
// state and its log (member.log) in dir. With report it writes its
// progress, which waitIngested and appliedAt read; with profile, a CPU
// profile of its run there.
func startMemberProc(e *env, cfg *Config, dir string, report bool, profile string) (*memberProc, error) {
	spec, err := json.Marshal(memberSpec{Brokers: e.brokers(), Registry: e.reg.URL(), StateDir: filepath.Join(dir, "state"),
		Partitions: cfg.Partitions, Window: cfg.Window, Grace: cfg.Grace, Retention: cfg.Retention, MaxDelta: cfg.MaxDelta,
		IdleTimeout: cfg.IdleTimeout, TickInterval: cfg.TickInterval, MarkInterval: cfg.MarkInterval, AlignDrift: cfg.AlignDrift,
		Report: report, CPUProfile: profile})
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: member: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: member: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "member.log"))
	if err != nil {
		return nil, fmt.Errorf("bench: member: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	p := &memberProc{cmd: exec.Command(exe), log: logf.Name(), exited: make(chan error, 1), changed: make(chan struct{}, 1)}
	p.cmd.Env = append(os.Environ(), MemberEnv+"="+string(spec))
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	var out io.ReadCloser
	if report {
		p.cmd.Stdout = nil
		if out, err = p.cmd.StdoutPipe(); err != nil {
			return nil, fmt.Errorf("bench: member: %w", err)
		}
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: member: starting a member process: %w", err)
	}
	p.proc = fmt.Sprintf("/proc/%d", p.cmd.Process.Pid)
	read := make(chan struct{})
	if out != nil {
		go p.read(out, read)
	} else {
		close(read)
	}
	go func() {
		<-read // Wait closes the pipe: read it to its end first
		p.exited <- p.cmd.Wait()
	}()
	return p, nil
}

// read parses the member's progress lines until its stdout closes.
func (p *memberProc) read(out io.Reader, done chan<- struct{}) {
	defer close(done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var ns int64
		var pr memberProgress
		if n, _ := fmt.Sscanf(sc.Text(), "progress %d %g %g", &ns, &pr.ingested, &pr.applied); n != 3 {
			continue
		}
		pr.at = time.Unix(0, ns)
		p.mu.Lock()
		p.progress = append(p.progress, pr)
		p.mu.Unlock()
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
}

// waitIngested returns when the member first reported a decoded input
// record (within 20 ms of it).
func (p *memberProc) waitIngested(ctx context.Context) (time.Time, error) {
	for {
		p.mu.Lock()
		for _, pr := range p.progress {
			if pr.ingested > 0 {
				p.mu.Unlock()
				return pr.at, nil
			}
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("bench: waiting for the member process's first reading: %w (log: %s)", ctx.Err(), p.log)
		case err := <-p.exited:
			p.exited <- err
			return time.Time{}, fmt.Errorf("bench: the member process exited (%v) before its first reading (log: %s)", err, p.log)
		case <-p.changed:
		}
	}
}

// appliedAt is when the member first reported n readings applied to device
// windows (zero if it has not).
func (p *memberProc) appliedAt(n float64) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.progress {
		if pr.applied >= n {
			return pr.at
		}
	}
	return time.Time{}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *memberProc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			return fmt.Errorf("bench: member: %w (log: %s)", err, p.log)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("bench: the member did not stop on SIGTERM (log: %s)", p.log)
	}
}

// Memory is the memory phase: one member in its own process.
type Memory struct {
	Readings   int64   `json:"readings"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"readings_per_s"`
	RSSPeakMiB float64 `json:"rss_peak_mib"`
	// DeviceCorrections and StationCorrections are the records with
	// REVISION > 1 the member published on the device and station windows
	// topics (see Variant). Reported, not a check: the input is produced
	// while the member runs, not preloaded.
	DeviceCorrections  int64 `json:"device_corrections"`
	StationCorrections int64 `json:"station_corrections"`
}

// runMemory runs one pipeline member in its own process against this
// process's broker and registry, produces MemoryReadings at full speed
// and samples the member's RSS until the last window is on its sink topic:
// the pipeline's own peak memory at full speed.
func runMemory(ctx context.Context, cfg *Config, say func(string, ...any)) (Memory, error) {
	r := Memory{Readings: cfg.MemoryReadings}
	dir := filepath.Join(cfg.Dir, "memory")
	e, err := startEnv(ctx, dir, cfg.Logger)
	if err != nil {
		return r, err
	}
	defer e.close()
	topics := processors.DefaultTopics()
	if err := e.createTopic(ctx, topics.Input, int32(cfg.Partitions), nil); err != nil {
		return r, err
	}
	mp, err := startMemberProc(e, cfg, dir, false, "")
	if err != nil {
		return r, err
	}
	stop := mp.stop

	wctx, cancel := context.WithTimeout(ctx, min(cfg.PhaseTimeout, 2*time.Minute))
	defer cancel()
	fail := func(err error) (Memory, error) {
		return r, errors.Join(fmt.Errorf("%w (member log: %s)", err, mp.log), stop())
	}
	if err := groupsStable(wctx, e.adm, 1, pipelineGroups()...); err != nil {
		return fail(err)
	}
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	f, err := followStations(fctx, e, topics.StationWindows)
	if err != nil {
		return fail(err)
	}
	say("memory: a member process joined; producing %d readings", cfg.MemoryReadings)
	rss := startRSSPeakOf(mp.proc)
	t0 := time.Now()
	exp, err := produceStream(ctx, e, cfg, topics.Input, cfg.MemoryReadings)
	if err != nil {
		return fail(err)
	}
	end, err := waitSinks(wctx, e, f, topics, exp)
	r.RSSPeakMiB = rss.done()
	if err != nil {
		return fail(err)
	}
	r.Seconds = end.Sub(t0).Seconds()
	r.PerSecond = float64(r.Readings) / r.Seconds
	var v Variant
	if err := checkOurs(ctx, e, &v, topics, f); err != nil {
		return fail(err)
	}
	r.DeviceCorrections, r.StationCorrections = v.DeviceCorrections, v.StationCorrections
	if v.Devices != exp.devices || *v.Stations != exp.stations {
		return fail(fmt.Errorf("bench: memory: published windows differ from the expected ones:\n  device windows  got %v\n                  want %v\n  station windows got %v\n                  want %v",
			v.Devices, exp.devices, *v.Stations, exp.stations))
	}
	if err := stop(); err != nil {
		return r, fmt.Errorf("bench: memory: %w", err)
	}
	say("memory: the member process peaked at %.0f MiB RSS (%.0f readings/s, producer competing)", r.RSSPeakMiB, r.PerSecond)
	return r, nil
}
