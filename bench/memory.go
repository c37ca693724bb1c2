package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

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
	p, err := processors.New(processors.Config{
		Brokers: s.Brokers, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(s.Brokers...)},
		Registry:   srclient.CreateSchemaRegistryClient(s.Registry),
		Partitions: s.Partitions, Window: s.Window, Grace: s.Grace, Retention: s.Retention, MaxDelta: s.MaxDelta,
		IdleTimeout: s.IdleTimeout, TickInterval: s.TickInterval, MaxFuture: -1,
		State: state.Options{Dir: s.StateDir}, Logger: log,
	}, nil)
	if err != nil {
		return err
	}
	return p.Run(ctx)
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
	spec, err := json.Marshal(memberSpec{Brokers: e.brokers(), Registry: e.reg.URL(), StateDir: filepath.Join(dir, "state"),
		Partitions: cfg.Partitions, Window: cfg.Window, Grace: cfg.Grace, Retention: cfg.Retention, MaxDelta: cfg.MaxDelta,
		IdleTimeout: cfg.IdleTimeout, TickInterval: cfg.TickInterval})
	if err != nil {
		return r, err
	}
	exe, err := os.Executable()
	if err != nil {
		return r, fmt.Errorf("bench: memory: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "member.log"))
	if err != nil {
		return r, fmt.Errorf("bench: memory: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), MemberEnv+"="+string(spec))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("bench: memory: starting a member process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			return fmt.Errorf("bench: memory: the member did not stop on SIGTERM (log: %s)", logf.Name())
		}
	}

	wctx, cancel := context.WithTimeout(ctx, min(cfg.PhaseTimeout, 2*time.Minute))
	defer cancel()
	fail := func(err error) (Memory, error) {
		return r, errors.Join(fmt.Errorf("%w (member log: %s)", err, logf.Name()), stop())
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
	rss := startRSSPeakOf(fmt.Sprintf("/proc/%d", cmd.Process.Pid))
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
		return r, fmt.Errorf("bench: memory: member: %w (log: %s)", err, logf.Name())
	}
	say("memory: the member process peaked at %.0f MiB RSS (%.0f readings/s, producer competing)", r.RSSPeakMiB, r.PerSecond)
	return r, nil
}
