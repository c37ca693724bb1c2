package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
)

// Phases of a run, in the order they run.
const (
	PhaseThroughput = "throughput" // the limit and ours on the preloaded input
	PhaseRestore    = "restore"    // table rebuild, warm and cold restart (after ours)
	PhaseLatency    = "latency"    // live mode at a fraction of ours' rate
	PhaseGoka       = "goka"       // the usual-goka variant on the same input
	PhaseScaling    = "scaling"    // 1..N members
	PhaseMemory     = "memory"     // one member in its own process: its RSS
	PhaseCurve      = "curve"      // ours (a member process) and the limit over devices × partitions
	PhaseMTAWeek    = "mtaweek"    // a real MTA week through turnstile produce into turnstile dev
	PhaseMicro      = "micro"      // codec and storage micro-benchmarks
)

// AllPhases lists every phase, in the order they run.
func AllPhases() []string {
	return []string{PhaseThroughput, PhaseRestore, PhaseLatency, PhaseGoka, PhaseScaling, PhaseMemory, PhaseCurve, PhaseMTAWeek, PhaseMicro}
}

// Defaults of the curve and mtaweek phases.
const (
	// DefaultCurveReadings and DefaultCurvePerDevice size the curve's
	// points: 5,000 and 50,000 devices get 100,000 readings (20 and 2
	// each), 200,000 devices 300,000 (1.5 each: the first 4 hours of the
	// stream are every device's first reading, the rest their second); the
	// six points take ~2½ minutes on 2 shared cores.
	DefaultCurveReadings  = 100_000
	DefaultCurvePerDevice = 1.5
	// DefaultMTAWeek is where a checkout beside ../shared finds a real
	// MTA week.
	DefaultMTAWeek = "../shared/data/mta/240113.csv.gz"
)

// Config sizes a run. Zero fields take the defaults of [Config.Defaults],
// which meet the minimums (2 million readings, ~5,000 devices).
type Config struct {
	// Readings preloaded for the throughput comparison.
	Readings int64
	// Calibrate runs a short calibration first and scales Readings,
	// ScalingReadings and MemoryReadings down (never up) so that every
	// phase fits the budget on this machine today.
	Calibrate bool
	// Devices in the synthetic stream: up to 7 per booth of the station
	// reference's 768 booths (~5,000 devices cover ~450 stations), then
	// copies of the reference with renamed stations (about 11 devices per
	// station: 200,000 devices make ~17,800 stations); see layoutFor.
	Devices int
	// Interval between two readings of a device (MTA: 4h).
	Interval time.Duration
	// Start is the event time of the first reading (default 2024-01-06,
	// the first MTA week in ../shared/data/mta).
	Start time.Time
	Seed  int64

	// Pipeline settings.
	Partitions    int
	Window, Grace time.Duration
	Retention     time.Duration
	MaxDelta      int64
	IdleTimeout   time.Duration
	TickInterval  time.Duration
	// MarkInterval is the pipeline's watermark mark throttle.
	MarkInterval time.Duration
	// AlignDrift is the pipeline's watermark alignment drift (negative:
	// off).
	AlignDrift time.Duration
	// RecoverOnOpen is the stores' state.Options.RecoverOnOpen (negative:
	// goka recovers everything).
	RecoverOnOpen time.Duration

	// LatencyDuration is how long the live-mode latency phase measures.
	LatencyDuration time.Duration
	// LatencyLoad is the produce rate as a fraction of ours' measured
	// throughput (default 0.5).
	LatencyLoad float64
	// LatencyRate, when positive, is the produce rate in readings/s
	// instead (to compare builds at one load).
	LatencyRate float64
	// ScalingReadings is the input of each scaling run.
	ScalingReadings int64
	// MemoryReadings is the input of the memory phase (RSS grows with
	// the input while memtables and caches fill).
	MemoryReadings int64
	// ScalingMembers runs 1..ScalingMembers members.
	ScalingMembers int
	// CurveDevices and CurvePartitions are the points of the cost curve:
	// every device count at every partition count (default 5,000, 50,000
	// and 200,000 devices at 6 and 24 partitions).
	CurveDevices    []int
	CurvePartitions []int
	// CurveReadings is the least input of a curve point, and
	// CurvePerDevice the least number of readings per device: a point's
	// input is the larger of the two.
	CurveReadings  int64
	CurvePerDevice float64
	// CurveProfileDir, when set, receives a CPU profile of each curve
	// point's member process (member-<devices>-<partitions>.pprof).
	CurveProfileDir string
	// MTAWeek is the real MTA week the mtaweek phase replays (skipped with
	// a note when the file is absent, as in a fresh clone).
	MTAWeek string
	// MTAWeekTrials is how many times the mtaweek phase runs the week
	// (default 3); it reports the median. MTAWeekNoLake adds a run with
	// dev's lake-writer off, for context.
	MTAWeekTrials int
	MTAWeekNoLake bool
	// TurnstileBin is the turnstile binary the mtaweek phase runs; empty:
	// built from ./cmd/turnstile (the working directory must be the
	// repository's root, as for make bench).
	TurnstileBin string
	// RestartReadings are produced between stopping and restarting the
	// pipeline in the restore phase.
	RestartReadings int64
	// MicroTime is how long each micro-benchmark runs.
	MicroTime time.Duration

	// Phases to run (default AllPhases). The throughput phase always runs
	// (everything else is relative to it).
	Phases []string

	// Dir holds the brokers' logs and the local state; default a temporary
	// directory, removed after the run unless Keep.
	Dir  string
	Keep bool
	// CPUProfile and HeapProfile, when set, receive pprof profiles of the
	// ours throughput run (heap: at its end).
	CPUProfile, HeapProfile string
	// LatencyProfile, when set, receives a pprof CPU profile of the
	// latency phase's live stream (warm-up included).
	LatencyProfile string
	// RestartProfile, when set, receives a pprof CPU profile of the cold
	// restart (the restore phase's member rebuilding its table).
	RestartProfile string
	// PhaseTimeout bounds each waiting step (default 5m).
	PhaseTimeout time.Duration
	// Budget is the time a run should take (default 9m30s, for `make
	// bench` to finish within 10 minutes): a phase after the throughput
	// comparison is skipped, with a note, when its estimate does not fit
	// in what is left.
	Budget time.Duration

	// Progress receives progress lines; nil discards them.
	Progress io.Writer
	// Logger receives the components' logs (default: discarded).
	Logger *slog.Logger
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Readings == 0 {
		c.Readings = 2_000_000
	}
	if c.Devices == 0 {
		c.Devices = 5000
	}
	if c.Interval == 0 {
		c.Interval = 4 * time.Hour
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	// The pipeline's settings are the pipeline's defaults (grace: the
	// window), but for the idle timeout: a benchmark's input ends, and its
	// last windows should close soon after.
	pipe := processors.Config{Partitions: c.Partitions, Window: c.Window, Grace: c.Grace, Retention: c.Retention,
		MaxDelta: c.MaxDelta, MarkInterval: c.MarkInterval, AlignDrift: c.AlignDrift, TickInterval: c.TickInterval}
	pipe.Defaults()
	c.Partitions, c.Window, c.Grace, c.Retention, c.MaxDelta = pipe.Partitions, pipe.Window, pipe.Grace, pipe.Retention, pipe.MaxDelta
	c.MarkInterval, c.AlignDrift, c.TickInterval = pipe.MarkInterval, pipe.AlignDrift, pipe.TickInterval
	if c.IdleTimeout == 0 {
		c.IdleTimeout = time.Second
	}
	if c.LatencyDuration == 0 {
		c.LatencyDuration = 20 * time.Second
	}
	if c.LatencyLoad == 0 {
		c.LatencyLoad = 0.5
	}
	if c.ScalingReadings == 0 {
		c.ScalingReadings = 200_000
	}
	if c.MemoryReadings == 0 {
		c.MemoryReadings = 500_000
	}
	if c.ScalingMembers == 0 {
		c.ScalingMembers = 3
	}
	if c.CurveDevices == nil {
		c.CurveDevices = []int{5000, 50_000, 200_000}
	}
	if c.CurvePartitions == nil {
		c.CurvePartitions = []int{6, 24}
	}
	if c.CurveReadings == 0 {
		c.CurveReadings = DefaultCurveReadings
	}
	if c.CurvePerDevice == 0 {
		c.CurvePerDevice = DefaultCurvePerDevice
	}
	if c.MTAWeekTrials <= 0 {
		c.MTAWeekTrials = 3
	}
	if c.MTAWeek == "" {
		c.MTAWeek = DefaultMTAWeek
	}
	if c.RestartReadings == 0 {
		c.RestartReadings = 10_000
	}
	if c.MicroTime == 0 {
		c.MicroTime = 300 * time.Millisecond
	}
	if c.Phases == nil {
		c.Phases = AllPhases()
	}
	if c.Budget == 0 {
		c.Budget = 9*time.Minute + 30*time.Second
	}
	if c.PhaseTimeout == 0 {
		c.PhaseTimeout = 5 * time.Minute
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

func (c *Config) validate() error {
	switch {
	case c.Readings < 1 || c.Devices < 1 || c.Partitions < 1 || c.ScalingReadings < 1 || c.MemoryReadings < 1 || c.ScalingMembers < 1:
		return errors.New("bench: readings, devices, partitions and scaling sizes must be positive")
	case c.Interval < time.Second:
		return errors.New("bench: the reading interval must be at least a second")
	case c.LatencyLoad <= 0 || c.LatencyLoad > 1:
		return fmt.Errorf("bench: latency load %v is not in (0, 1]", c.LatencyLoad)
	case c.CurveReadings < 1 || c.CurvePerDevice <= 0:
		return errors.New("bench: curve sizes must be positive")
	}
	for _, n := range append(slices.Clone(c.CurveDevices), c.CurvePartitions...) {
		if n < 1 {
			return fmt.Errorf("bench: curve devices and partitions must be positive (%v, %v)", c.CurveDevices, c.CurvePartitions)
		}
	}
	for _, p := range c.Phases {
		if !slices.Contains(AllPhases(), p) {
			return fmt.Errorf("bench: unknown phase %q (phases: %v)", p, AllPhases())
		}
	}
	return nil
}

func (c *Config) runs(phase string) bool {
	return phase == PhaseThroughput || slices.Contains(c.Phases, phase)
}

func errorsJoin(errs ...error) error { return errors.Join(errs...) }
