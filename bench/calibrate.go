package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// calibrationReadings is the size of the calibration run: big enough that
// ours runs a few seconds past its startup, small enough to cost ~15 s.
const calibrationReadings = 60_000

// Calibration is what the short run at the start measured and the sizes it
// chose so that every phase fits the budget.
type Calibration struct {
	Readings      int64   `json:"readings"`
	PreloadPerS   float64 `json:"preload_readings_per_s"`
	LimitPerS     float64 `json:"limit_readings_per_s"`
	OursPerS      float64 `json:"ours_readings_per_s"`
	Seconds       float64 `json:"seconds"`
	Scale         float64 `json:"scale"`
	EstimatedRunS float64 `json:"estimated_run_s"`
}

// calibrate runs the preload, the limit and ours on a small input in its
// own broker, then scales the sizes the user did not set (Readings,
// ScalingReadings, MemoryReadings; cfg.Calibrate) down, never up, so that
// the estimated run, every phase included, fits 85 % of the budget.
func calibrate(ctx context.Context, cfg *Config, say func(string, ...any)) (Calibration, error) {
	began := time.Now()
	c := Calibration{Readings: calibrationReadings}
	e, err := startEnv(ctx, filepath.Join(cfg.Dir, "calibrate"), cfg.Logger)
	if err != nil {
		return c, err
	}
	defer e.close()
	input := "mta-turnstile"
	in, err := preload(ctx, e, cfg, input, c.Readings, func(string, ...any) {})
	if err != nil {
		return c, err
	}
	c.PreloadPerS = float64(in.Readings) / in.Seconds
	limit, err := runLimit(ctx, e, cfg, input, c.Readings)
	if err != nil {
		return c, err
	}
	c.LimitPerS = limit.PerSecond
	ours, m, err := runOurs(ctx, e, cfg, filepath.Join(cfg.Dir, "calibrate", "state"), 1, c.Readings,
		expected{limit.Devices, *limit.Stations}, func(string, ...any) {}, false)
	if err != nil {
		return c, err
	}
	if err := m.stop(); err != nil {
		return c, err
	}
	// A short run's rate includes the startup and the idle timeout that
	// closes the last windows: the processed rate is the steady one.
	c.OursPerS = ours.PerSecond
	if ours.ProcessedSeconds > 0 {
		c.OursPerS = float64(c.Readings) / ours.ProcessedSeconds
	}
	c.Seconds = time.Since(began).Seconds()

	cfg.fit(&c, 0.85*cfg.Budget.Seconds()-c.Seconds)
	c.EstimatedRunS += c.Seconds
	say("calibrate: %d readings: preload %.0f/s, limit %.0f/s, ours %.0f/s in %.1fs; sizes ×%.3f: %d readings, %d per scaling run, %d in the memory phase, curve points of at least %d readings (estimated run %.0f s of the %v budget)",
		c.Readings, c.PreloadPerS, c.LimitPerS, c.OursPerS, c.Seconds, min(1, c.Scale), cfg.Readings, cfg.ScalingReadings, cfg.MemoryReadings,
		cfg.CurveReadings, c.EstimatedRunS, cfg.Budget)
	return c, nil
}

// fit scales the sizes down (never up) so that the estimated run takes at
// most avail seconds, and records the scale and the estimate in c.
func (cfg *Config) fit(c *Calibration, avail float64) {
	est := func(f float64) float64 { return cfg.estimate(*c, f) }
	c.Scale = 1
	if est(1) > avail {
		// The estimate grows with the scale (affinely but for the curve's
		// floors): the largest scale that fits, by bisection.
		lo, hi := 0.05, 1.0
		for i := 0; i < 40 && est(lo) <= avail; i++ {
			if mid := (lo + hi) / 2; est(mid) <= avail {
				lo = mid
			} else {
				hi = mid
			}
		}
		c.Scale = lo
	}
	c.EstimatedRunS = est(c.Scale)
	if c.Scale < 1 {
		round := func(n int64) int64 { return max(10_000, int64(float64(n)*c.Scale)/10_000*10_000) }
		cfg.Readings, cfg.ScalingReadings, cfg.MemoryReadings = round(cfg.Readings), round(cfg.ScalingReadings), round(cfg.MemoryReadings)
		cfg.CurveReadings = cfg.curveScaled(c.Scale)
	}
}

// curveScaled is the curve's least readings per point scaled by f (to a
// thousand), at least 10,000. Its readings per device are not scaled: they
// are the curve's shape (a big point's devices must read more than once).
func (cfg *Config) curveScaled(f float64) int64 {
	return max(10_000, int64(f*float64(cfg.CurveReadings))/1000*1000)
}

// estimate is the run's duration in seconds, calibration excluded, with
// every size scaled by f, from the calibration's rates: the fixed parts
// (restore, latency, the MTA week, micro-benchmarks, startups and checks)
// plus the parts proportional to the sizes (the curve's are not quite: its
// big points' sizes are set by their devices, see curveReadings). The usual goka way is taken as twice ours'
// speed (measured 2.4× before, 1.5-2× since), as the budget check does.
func (cfg *Config) estimate(c Calibration, f float64) float64 {
	n, s, m := f*float64(cfg.Readings), f*float64(cfg.ScalingReadings), f*float64(cfg.MemoryReadings)
	secs := 15.0 // startups, checks, teardown
	secs += n/c.PreloadPerS + n/c.LimitPerS + n/c.OursPerS + 5
	if cfg.runs(PhaseRestore) {
		secs += 30
	}
	if cfg.runs(PhaseLatency) {
		secs += cfg.LatencyDuration.Seconds() + 15
	}
	if cfg.runs(PhaseGoka) {
		secs += n/(2*c.OursPerS) + 20
	}
	if cfg.runs(PhaseScaling) {
		secs += float64(cfg.ScalingMembers) * (s/c.OursPerS + s/c.PreloadPerS + 15)
	}
	if cfg.runs(PhaseMemory) {
		secs += m/c.OursPerS + 20
	}
	if cfg.runs(PhaseCurve) {
		sc := *cfg
		sc.CurveReadings = cfg.curveScaled(f)
		secs += sc.curveEstimate(rates{c.PreloadPerS, c.LimitPerS, c.OursPerS})
	}
	if cfg.runs(PhaseMTAWeek) {
		secs += cfg.mtaWeekEstimate()
	}
	if cfg.runs(PhaseMicro) {
		secs += 12*cfg.MicroTime.Seconds() + 5
	}
	return secs
}

func (c Calibration) String() string {
	return fmt.Sprintf("calibrated on %d readings (limit %.0f/s, ours %.0f/s): sizes ×%.3f", c.Readings, c.LimitPerS, c.OursPerS, min(1, c.Scale))
}
