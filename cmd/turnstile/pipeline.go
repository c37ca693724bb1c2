package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/windows"
)

// pipelineFlags configure the processors (turnstile process, turnstile dev).
type pipelineFlags struct {
	layoutFlags
	stages                          []string
	window, slide, grace, retention time.Duration
	idleTimeout, maxFuture          time.Duration
	alignDrift                      time.Duration
	recoverOnOpen                   time.Duration
	counters, emit                  string
	windowAlign, timeZone           string
	maxDelta                        int64
	writeBehindKeys                 int
	stateDir                        string
	memtableMiB, cacheMiB           int64
	memoryLimit                     string
	hotStandby                      bool
	generation                      int32
	sessionTimeout                  time.Duration
}

// defaultIdleTimeout is --idle-timeout's default. The pipeline's own zero
// means never idle (a silent input partition then holds every window
// back), so members the CLI starts are given this instead.
const defaultIdleTimeout = 30 * time.Second

// zeroOff is a duration flag whose 0 means off as the configuration
// takes it: negative there, where zero means the default.
func zeroOff(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// zeroOffKeys maps a count flag's 0 (off) to the config's negative.
func zeroOffKeys(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// defaultDataDir is --data-dir's default (dev, process, broker).
const defaultDataDir = "./data"

func (p *pipelineFlags) register(fs *pflag.FlagSet) {
	// The defaults are the pipeline's: those of a zero processors.Config.
	// Slide and grace stay zero, which the pipeline reads as "the window
	// length", whatever --window is.
	var d processors.Config
	d.Defaults()
	fs.StringSliceVar(&p.stages, "groups", nil, "stages this member runs: "+strings.Join(stageNames(), ", ")+" (default all)")
	p.layoutFlags.register(fs)
	fs.DurationVar(&p.window, "window", d.Window, "window length")
	fs.DurationVar(&p.slide, "slide", 0, "window slide (default: the window length, i.e. tumbling windows)")
	fs.StringVar(&p.windowAlign, "window-align", string(d.WindowAlign), "epoch (windows start at multiples of the slide since the Unix epoch) or local (at local midnight in --time-zone plus multiples of the slide on the wall clock, through daylight saving time: 4h windows start at 00:00, 04:00, ... local time all year, 24h windows are local days; the slide must divide 24h)")
	registerTimeZone(fs, &p.timeZone, d.TimeZone, "time zone of the data's local dates and times, an IANA name: the published windows' DATE and TIME are their end's local date and clock in it, and --window-align local aligns to its midnights (dev: also its CSV producer's and lake-writer's)")
	fs.DurationVar(&p.grace, "grace", 0, "how long after its end a window waits for out-of-order readings (default: the window length)")
	fs.DurationVar(&p.retention, "retention", d.Retention, "event time during which late readings still correct windows")
	fs.DurationVar(&p.idleTimeout, "idle-timeout", defaultIdleTimeout, "mark an input partition that is caught up and silent this long idle: it stops holding the watermark back, and once every input partition is idle the last windows with data close (0: never idle; a silent partition then holds every window back)")
	fs.IntVar(&p.writeBehindKeys, "write-behind-keys", processors.DefaultWriteBehindKeys, "devices a partition may hold updated only in memory: a reading updates its device there, and the device goes to the store and the changelog once for all its readings at the partition's next flush (its next watermark mark, close or tick, or when it holds this many), as Kafka Streams' record cache does (0: every reading written through)")
	fs.DurationVar(&p.alignDrift, "align-drift", d.AlignDrift, "watermark alignment: an input partition read more than this much event time ahead of its partition's watermark, while the partition holding the watermark back still has input, pauses until the others catch up (bounds the state a catch-up piles up; a live stream never pauses; 0: off)")
	fs.DurationVar(&p.maxFuture, "max-future", 0, fmt.Sprintf("reject readings whose event time is further ahead of the wall clock (0: %s, negative: no check)", shortDuration(codecs.DefaultMaxFuture)))
	fs.StringVar(&p.counters, "counters", string(d.Counters), "cumulative (ENTRIES/EXITS are registers; count differences) or increment (count the values)")
	fs.StringVar(&p.emit, "emit", string(d.Emit), "final (a window when it closes, then corrections) or updates (also on every change)")
	fs.Int64Var(&p.maxDelta, "max-delta", d.MaxDelta, "larger counter differences are dropped as glitches")
	fs.StringVar(&p.stateDir, "state-dir", "", "local table state (default <data-dir>/state)")
	var st state.Options
	st.Defaults()
	fs.Int64Var(&p.memtableMiB, "state-memtable-mib", st.MemTableSize>>20, "Pebble memtable per table partition (up to two per partition)")
	fs.Int64Var(&p.cacheMiB, "state-cache-mib", st.CacheSize>>20, "Pebble block cache shared by the table partitions")
	fs.DurationVar(&p.recoverOnOpen, "state-recover-on-open", st.RecoverOnOpen, "how long a table partition opening may read its changelog itself (fetching while it applies) before goka's own recovery does the rest; a rebalance waits at most this long for a recovering partition (0: goka recovers everything)")

	fs.BoolVar(&p.hotStandby, "hot-standby", false, "keep replicas of the tables of partitions this member does not own, for fast takeover")
	fs.Int32Var(&p.generation, "generation", 0, "lowest generation stamped on published windows; turnstile replay records the current one on the generations topic, and the higher wins")
	fs.DurationVar(&p.sessionTimeout, "session-timeout", d.SessionTimeout, "how long a member that died without leaving keeps its partitions (broker minimum 6s)")
}

// registerMemory adds --memory-limit (turnstile process: a member's
// budget; dev also holds the embedded broker's log in memory, so it has
// none).
func (p *pipelineFlags) registerMemory(fs *pflag.FlagSet) {
	fs.StringVar(&p.memoryLimit, "memory-limit", fmt.Sprintf("%dMiB", processors.DefaultMemoryLimit>>20),
		"the member's memory budget: Go's soft limit is set to it minus what Pebble may hold (0: no limit; GOMEMLIMIT in the environment wins)")
}

// applyMemoryLimit sets the process's memory budget from --memory-limit.
func (p *pipelineFlags) applyMemoryLimit(a *app) error {
	if p.memoryLimit == "" {
		return nil
	}
	limit, err := parseBytes(p.memoryLimit)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	st := state.Options{MemTableSize: p.memtableMiB << 20, CacheSize: p.cacheMiB << 20}
	if goLimit := processors.ApplyMemoryLimit(limit, p.partitions, st); goLimit > 0 {
		a.log.Debug("memory limit", "budget_mib", limit>>20, "go_soft_limit_mib", goLimit>>20, "pebble_mib", st.ManualMemory(p.partitions)>>20)
	}
	return nil
}

// shortDuration writes d as a flag takes it, without zero units: 24h, 5m,
// 1h30m (a time.Duration prints 24h0m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// parseBytes reads a size such as 256MiB, 1GiB, 512MB or a plain number of
// bytes.
func parseBytes(in string) (int64, error) {
	s := strings.TrimSpace(in)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 256MiB, 1GiB or 0)", in)
	}
	return int64(n * float64(mult)), nil
}

// registerTimeZone adds --time-zone (process, dev, produce, lake), whose
// default is def, a zero configuration's after Defaults.
func registerTimeZone(fs *pflag.FlagSet, p *string, def *time.Location, usage string) {
	fs.StringVar(p, "time-zone", def.String(), usage)
}

// loadTimeZone reads --time-zone.
func loadTimeZone(name string) (*time.Location, error) {
	loc, err := schemas.LoadTimeZone(name)
	if err != nil {
		return nil, fmt.Errorf("--time-zone: %w", err)
	}
	return loc, nil
}

// stageNames are the pipeline's stages, upstream first (--groups).
func stageNames() []string { return processors.Config{}.Topology().StageNames() }

// config is the member's processors configuration: the flags' settings
// and the connection cc.
func (p *pipelineFlags) config(a *app, cc clientconf.Config, topics processors.Topics, dataDir string) (processors.Config, error) {
	cfg, err := p.settings(topics, dataDir)
	if err != nil {
		return cfg, err
	}
	opts, err := cc.KgoOpts()
	if err != nil {
		return processors.Config{}, err
	}
	cfg.Brokers, cfg.KafkaOpts, cfg.Registry = cc.Brokers, opts, cc.SRClient()
	cfg.Sarama = func(sc *sarama.Config) error { return cc.ApplySarama(sc) }
	cfg.Logger = a.log
	return cfg, nil
}

// settings is the processors configuration the flags give, without a
// connection or a logger (turnstile dev's members get theirs from
// package devstack).
func (p *pipelineFlags) settings(topics processors.Topics, dataDir string) (processors.Config, error) {
	stateDir := p.stateDirFor(dataDir)
	for _, s := range p.stages {
		if !slices.Contains(stageNames(), s) {
			return processors.Config{}, fmt.Errorf("--groups: unknown stage %q (want %s)", s, strings.Join(stageNames(), ", "))
		}
	}
	zone, err := loadTimeZone(p.timeZone)
	if err != nil {
		return processors.Config{}, err
	}
	return processors.Config{
		Topics: topics, Run: p.stages,
		Partitions: p.partitions, Replication: p.replication,
		Window: p.window, Slide: p.slide, Grace: p.grace, Retention: p.retention,
		WindowAlign: windows.Alignment(p.windowAlign), TimeZone: zone,
		Counters: windows.CounterMode(p.counters), MaxDelta: p.maxDelta, Emit: windows.EmitMode(p.emit), IdleTimeout: p.idleTimeout, MaxFuture: p.maxFuture,
		AlignDrift: zeroOff(p.alignDrift), WriteBehindKeys: zeroOffKeys(p.writeBehindKeys),
		Generation: p.generation, HotStandby: p.hotStandby, SessionTimeout: p.sessionTimeout,
		State: state.Options{Dir: stateDir, MemTableSize: p.memtableMiB << 20, CacheSize: p.cacheMiB << 20,
			RecoverOnOpen: zeroOff(p.recoverOnOpen)},
	}, nil
}

// stateDirFor is the table state directory: --state-dir, or
// <data-dir>/state.
func (p *pipelineFlags) stateDirFor(dataDir string) string {
	if p.stateDir != "" {
		return p.stateDir
	}
	return filepath.Join(dataDir, "state")
}

// checkStateDir fails, naming the flag that chose it, when the table state
// directory cannot be created or written: before the member joins any
// group, so a bad directory never costs a healthy member a rebalance.
func (p *pipelineFlags) checkStateDir(dataDir string) error {
	if err := state.CheckDir(p.stateDirFor(dataDir)); err != nil {
		if p.stateDir != "" {
			return fmt.Errorf("--state-dir %s: %w", p.stateDir, err)
		}
		return fmt.Errorf("--data-dir %s: %w", dataDir, err)
	}
	return nil
}
