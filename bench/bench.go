package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Results is every figure of a run; its JSON form is bench/results.json.
type Results struct {
	Machine   Machine   `json:"machine"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"total_s"`
	Settings  Settings  `json:"settings"`
	Input     Input     `json:"input"`
	// Calibration is the short run that chose the sizes (absent when the
	// sizes were given).
	Calibration *Calibration `json:"calibration,omitempty"`

	// Throughput in readings/s of the three variants on the same input.
	Throughput struct {
		Ours  float64 `json:"ours"`
		Limit float64 `json:"limit"`
		Goka  float64 `json:"goka"`
	} `json:"throughput"`
	Ratio struct {
		OursOverLimit float64 `json:"ours_over_limit"`
		OursOverGoka  float64 `json:"ours_over_goka"`
	} `json:"ratio"`
	CPUPerReading struct {
		Ours  float64 `json:"ours"`
		Limit float64 `json:"limit"`
		Goka  float64 `json:"goka"`
	} `json:"cpu_us_per_reading"`
	RSSMiB struct {
		// Peak is the process's peak RSS during ours' throughput run
		// (the in-process broker included; its logs are on disk).
		Peak float64 `json:"peak"`
		// GoHeapPeak is the Go heap's peak in the same run (the rest of
		// RSS is Pebble's manually managed memory, stacks, the runtime).
		GoHeapPeak float64 `json:"go_heap_peak"`
		// BeforeStart is the RSS just before ours started.
		BeforeStart float64 `json:"before_start"`
		Limit       float64 `json:"limit"`
		Goka        float64 `json:"goka"`
		// Member is the peak RSS of one pipeline member in its own process
		// at full speed (the memory phase): the pipeline's own memory.
		Member float64 `json:"member,omitempty"`
	} `json:"rss_mib"`
	// Corrections are the records with REVISION > 1 that ours' throughput
	// run published on the device and station windows topics: windows
	// published again. With the preloaded, ordered input the watermark
	// closes each window once, so anything but 0 is a failed check. The
	// other phases that follow the sinks have theirs in their own figures
	// (scaling[].device_corrections, memory.device_corrections,
	// latency_ms.device_corrections, ...).
	Corrections struct {
		Device  int64 `json:"device"`
		Station int64 `json:"station"`
	} `json:"corrections"`
	// Variants has the details, with the window digests that were
	// compared.
	Variants []Variant `json:"variants"`
	Latency  *Latency  `json:"latency_ms,omitempty"`
	Restore  *Restore  `json:"restore,omitempty"`
	Scaling  []Variant `json:"scaling,omitempty"`
	Memory   *Memory   `json:"memory,omitempty"`
	// Curve is ours (one member process) against the limit over devices ×
	// partitions, each point in a broker of its own.
	Curve []CurvePoint `json:"curve,omitempty"`
	// MTAWeek is a real MTA week through turnstile produce into turnstile
	// dev, as a user runs them.
	MTAWeek *MTAWeek `json:"mtaweek,omitempty"`
	Micro   []Micro  `json:"micro,omitempty"`
	Targets []Target `json:"targets"`
	Notes   []string `json:"notes"`
	// Failures are checks that failed without stopping the run.
	Failures []string `json:"failures,omitempty"`
}

// Settings are the sizes and pipeline settings of the run.
type Settings struct {
	Readings     int64  `json:"readings"`
	Devices      int    `json:"devices"`
	Partitions   int    `json:"partitions"`
	Window       string `json:"window"`
	Grace        string `json:"grace"`
	Retention    string `json:"retention"`
	IdleTimeout  string `json:"idle_timeout"`
	TickInterval string `json:"tick_interval"`
	// MarkInterval is the pipeline's mark throttle in a live stream (in a
	// backlog, twice that: processors.Config.CatchUpMarkInterval).
	MarkInterval    string  `json:"mark_interval"`
	LatencyLoad     float64 `json:"latency_load"`
	ScalingReadings int64   `json:"scaling_readings"`
	MemoryReadings  int64   `json:"memory_readings"`
	CurveDevices    []int   `json:"curve_devices"`
	CurvePartitions []int   `json:"curve_partitions"`
	// CurveReadings and CurvePerDevice size the curve's points: the larger
	// of CurveReadings and CurvePerDevice readings per device.
	CurveReadings  int64    `json:"curve_readings"`
	CurvePerDevice float64  `json:"curve_readings_per_device"`
	MTAWeek        string   `json:"mta_week"`
	Phases         []string `json:"phases"`
}

// Target is one goal of the issue and where the run stands.
type Target struct {
	Name     string  `json:"name"`
	Goal     string  `json:"goal"`
	Measured string  `json:"measured"`
	Met      bool    `json:"met"`
	Value    float64 `json:"value"`
}

// Run runs every configured phase and returns the figures. On an error
// the results so far are returned with it.
func Run(ctx context.Context, cfg Config) (res *Results, err error) {
	cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	res = &Results{Machine: machine(), StartedAt: time.Now().UTC()}
	settings := func() {
		res.Settings = Settings{Readings: cfg.Readings, Devices: cfg.Devices, Partitions: cfg.Partitions, Window: cfg.Window.String(),
			Grace: cfg.Grace.String(), Retention: cfg.Retention.String(), IdleTimeout: cfg.IdleTimeout.String(), TickInterval: cfg.TickInterval.String(), MarkInterval: cfg.MarkInterval.String(),
			LatencyLoad: cfg.LatencyLoad, ScalingReadings: cfg.ScalingReadings, MemoryReadings: cfg.MemoryReadings,
			CurveDevices: cfg.CurveDevices, CurvePartitions: cfg.CurvePartitions, CurveReadings: cfg.CurveReadings, CurvePerDevice: cfg.CurvePerDevice,
			MTAWeek: cfg.MTAWeek, Phases: cfg.Phases}
	}
	settings()
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "turnstile-bench-"); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if !cfg.Keep {
			defer os.RemoveAll(cfg.Dir)
		}
	}
	began := time.Now()
	defer func() {
		res.Seconds = time.Since(began).Seconds()
		res.assess()
	}()
	say := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "[%5.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	say("bench: %d readings, %d devices, %d partitions; %s on %d cores (load %.1f); work dir %s",
		cfg.Readings, cfg.Devices, cfg.Partitions, res.Machine.CPU, res.Machine.Cores, res.Machine.LoadAvg, cfg.Dir)

	if cfg.Calibrate {
		cal, err := calibrate(ctx, &cfg, say)
		if err != nil {
			return res, fmt.Errorf("bench: calibrate: %w", err)
		}
		res.Calibration = &cal
		settings()
		if cal.Scale < 1 {
			res.Notes = append(res.Notes, fmt.Sprintf("Sizes scaled ×%.2f to fit the %v budget on this machine today (%s).", cal.Scale, cfg.Budget, cal))
		}
	}
	e, err := startEnv(ctx, filepath.Join(cfg.Dir, "main"), cfg.Logger)
	if err != nil {
		return res, err
	}
	defer e.close()
	input := "mta-turnstile"
	if res.Input, err = preload(ctx, e, &cfg, input, cfg.Readings, say); err != nil {
		return res, err
	}
	// The restore phase appends readings to the input for its restarts;
	// the usual goka way, which runs after it, must see the same input as
	// the others: the preloaded offsets.
	preloaded, err := e.partitionEnds(ctx, input)
	if err != nil {
		return res, err
	}
	say("preload: %d readings (%d devices, %d stations, %.0f MB) in %.1fs",
		res.Input.Readings, res.Input.Devices, res.Input.Stations, float64(res.Input.Bytes)/1e6, res.Input.Seconds)

	settle(PhaseThroughput, say)
	limit, err := runLimit(ctx, e, &cfg, input, cfg.Readings)
	if err != nil {
		return res, err
	}
	res.Variants = append(res.Variants, limit)
	say("limit: %.0f readings/s (%d device windows, %d station windows)", limit.PerSecond, limit.Devices.Windows, limit.Stations.Windows)

	res.RSSMiB.BeforeStart = rssMiB()
	stateDir := filepath.Join(cfg.Dir, "main", "state")
	settle(PhaseThroughput, say)
	ours, m, err := runOurs(ctx, e, &cfg, stateDir, 1, cfg.Readings, expected{limit.Devices, *limit.Stations}, say, true)
	if err != nil {
		return res, err
	}
	res.Variants = append(res.Variants, ours)
	res.Corrections.Device, res.Corrections.Station = ours.DeviceCorrections, ours.StationCorrections
	say("ours: %d device and %d station window corrections (REVISION > 1)", ours.DeviceCorrections, ours.StationCorrections)
	if ours.DeviceCorrections > 0 || ours.StationCorrections > 0 {
		// Reported, and the run fails at the end: on the preloaded,
		// ordered input each window must be published once.
		res.Failures = append(res.Failures, fmt.Sprintf("ours published %d device and %d station window corrections (REVISION > 1) on the preloaded, ordered input, where the watermark closes each window once",
			ours.DeviceCorrections, ours.StationCorrections))
		say("ours: CORRECTIONS on ordered input; continuing, the run will fail at the end")
	}
	if serr := m.stop(); serr != nil {
		return res, serr
	}
	if ours.Devices != limit.Devices {
		return res, fmt.Errorf("bench: ours and the limit disagree:\n  device windows  ours  %v\n                  limit %v",
			ours.Devices, limit.Devices)
	}
	if *ours.Stations != *limit.Stations {
		// Reported, and the run fails at the end, but the figures are
		// still worth having.
		res.Variants[len(res.Variants)-1].StationsDiffer = true
		res.Failures = append(res.Failures, fmt.Sprintf("ours' station windows differ from the limit's (ours %v; limit %v)",
			*ours.Stations, *limit.Stations))
		say("ours: STATION WINDOWS DIFFER from the limit's; continuing, the run will fail at the end")
	} else {
		say("ours: device and station windows identical to the limit's")
	}
	res.Throughput.Ours, res.Throughput.Limit = ours.PerSecond, limit.PerSecond
	res.Ratio.OursOverLimit = ours.PerSecond / limit.PerSecond
	res.CPUPerReading.Ours, res.CPUPerReading.Limit = ours.CPUPerReading, limit.CPUPerReading
	res.RSSMiB.Peak, res.RSSMiB.Limit, res.RSSMiB.GoHeapPeak = ours.RSSPeakMiB, limit.RSSPeakMiB, ours.GoHeapPeakMiB

	// fits says whether a phase estimated to take est fits in the budget,
	// noting it when it does not.
	fits := func(phase string, est time.Duration) bool {
		if !cfg.runs(phase) {
			return false
		}
		left := cfg.Budget - time.Since(began)
		if est <= left {
			return true
		}
		n := fmt.Sprintf("Phase %q skipped: estimated %.0f s, %.0f s left of the %v budget (--budget, or smaller sizes).",
			phase, est.Seconds(), left.Seconds(), cfg.Budget)
		res.Notes = append(res.Notes, n)
		say("%s", n)
		return false
	}
	perReading := time.Duration(float64(time.Second) / ours.PerSecond)
	// The restore phase's restarts follow no sink topic (they are timed to
	// the windowed stage applying a reading), and the usual goka way is not
	// our pipeline (its republished windows are its Duplicates): neither
	// reports corrections.
	if fits(PhaseRestore, 30*time.Second) {
		settle(PhaseRestore, say)
		r, err := runRestore(ctx, e, &cfg, stateDir, res.Input.EventTo, say)
		if err != nil {
			return res, err
		}
		res.Restore = &r
	}
	if fits(PhaseLatency, cfg.LatencyDuration+15*time.Second) {
		rate := cfg.LatencyLoad * ours.PerSecond
		if cfg.LatencyRate > 0 {
			rate = cfg.LatencyRate
		}
		settle(PhaseLatency, say)
		l, err := runLatency(ctx, &cfg, rate, say)
		if err != nil {
			return res, err
		}
		res.Latency = &l
		say("latency: %d windows at %.0f readings/s: p50 %.0f ms, p99 %.0f ms, p99.9 %.0f ms; %d device window corrections (REVISION > 1; the station windows are not followed)",
			l.Windows, l.Rate, l.P50, l.P99, l.P999, l.DeviceCorrections)
	}
	if fits(PhaseGoka, time.Duration(cfg.Readings)*perReading/2+20*time.Second) {
		settle(PhaseGoka, say)
		g, err := runGoka(ctx, e, &cfg, input, preloaded, cfg.Readings, limit.Devices, say)
		if err != nil {
			return res, err
		}
		res.Variants = append(res.Variants, g)
		if g.Devices != limit.Devices {
			// Reported, and the run fails at the end; its throughput is
			// still measured on the same input.
			res.Failures = append(res.Failures, fmt.Sprintf("the usual goka way's device windows differ from the limit's (goka %v; limit %v)",
				g.Devices, limit.Devices))
			say("usual goka: DEVICE WINDOWS DIFFER from the limit's (goka %v; limit %v); continuing, the run will fail at the end", g.Devices, limit.Devices)
		} else {
			say("usual goka: device windows identical to the limit's")
		}
		res.Throughput.Goka = g.PerSecond
		res.Ratio.OursOverGoka = ours.PerSecond / g.PerSecond
		res.CPUPerReading.Goka = g.CPUPerReading
		res.RSSMiB.Goka = g.RSSPeakMiB
	}
	if fits(PhaseScaling, time.Duration(cfg.ScalingMembers)*(time.Duration(cfg.ScalingReadings)*perReading+15*time.Second)) {
		for k := 1; k <= cfg.ScalingMembers; k++ {
			settle(PhaseScaling, say)
			v, err := runScaling(ctx, &cfg, k, say)
			if err != nil {
				// Reported, and the run fails at the end; the other
				// phases' figures are still worth having.
				res.Failures = append(res.Failures, fmt.Sprintf("scaling with %d members: %v", k, err))
				say("scaling: %d member(s) FAILED: %v", k, err)
				break
			}
			res.Scaling = append(res.Scaling, v)
			// Reported, not a check: the scaling input is produced while
			// the members run, not preloaded.
			say("scaling: %d member(s): %d device and %d station window corrections (REVISION > 1)", k, v.DeviceCorrections, v.StationCorrections)
		}
	}
	if fits(PhaseMemory, time.Duration(cfg.MemoryReadings)*perReading+20*time.Second) {
		settle(PhaseMemory, say)
		m, err := runMemory(ctx, &cfg, say)
		if err != nil {
			return res, err
		}
		res.Memory, res.RSSMiB.Member = &m, m.RSSPeakMiB
		say("memory: %d device and %d station window corrections (REVISION > 1)", m.DeviceCorrections, m.StationCorrections)
	}
	ratesNow := rates{res.Input.PerSecond, limit.PerSecond, ours.PerSecond}
	// The MTA week's time is kept for it when the curve is cut short.
	mtaWeek := time.Duration(cfg.mtaWeekEstimate() * float64(time.Second))
	if !cfg.runs(PhaseMTAWeek) {
		mtaWeek = 0
	}
	if cfg.runs(PhaseCurve) {
		// Point by point, as many as fit (the others are noted).
		settle(PhaseCurve, say)
		runCurve(ctx, &cfg, ratesNow, func() time.Duration { return cfg.Budget - time.Since(began) - mtaWeek }, res, say)
	}
	if cfg.runs(PhaseMTAWeek) {
		if _, err := os.Stat(cfg.MTAWeek); err != nil {
			n := fmt.Sprintf("Phase %q skipped: no MTA week at %s (a fresh clone has none; --mta-week FILE).", PhaseMTAWeek, cfg.MTAWeek)
			res.Notes = append(res.Notes, n)
			say("%s", n)
		} else if fits(PhaseMTAWeek, mtaWeek) {
			settle(PhaseMTAWeek, say)
			w, err := runMTAWeek(ctx, &cfg, say)
			if err != nil {
				res.Failures = append(res.Failures, fmt.Sprintf("mtaweek: %v", err))
				say("mtaweek: FAILED: %v", err)
			}
			if w.EndToEndS > 0 {
				res.MTAWeek = &w
			}
		}
	}
	if fits(PhaseMicro, 12*cfg.MicroTime+5*time.Second) {
		if res.Micro, err = runMicro(e, &cfg, say); err != nil {
			return res, err
		}
	}
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("bench: %d check(s) failed:\n  %s", len(res.Failures), strings.Join(res.Failures, "\n  "))
	}
	return res, nil
}
