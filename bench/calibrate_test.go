package bench

import (
	"math"
	"path/filepath"
	"testing"
	"time"
)

func TestFitScalesSizesToTheBudget(t *testing.T) {
	// Without the curve, whose big points have sizes set by their devices
	// (TestFitScalesTheCurve).
	base := func() Config {
		c := Config{Readings: 2_000_000, ScalingReadings: 200_000, MemoryReadings: 500_000, Budget: 570 * time.Second,
			Phases: []string{PhaseThroughput, PhaseRestore, PhaseLatency, PhaseGoka, PhaseScaling, PhaseMemory, PhaseMicro}}
		c.Defaults()
		return c
	}
	for _, tc := range []struct {
		name      string
		ours      float64
		wantScale bool
	}{
		{"a fast machine keeps the defaults", 200_000, false},
		{"a slow machine scales down", 10_000, true},
		{"a very slow machine scales down further", 3_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			c := Calibration{PreloadPerS: 90_000, LimitPerS: 150_000, OursPerS: tc.ours}
			avail := 400.0
			cfg.fit(&c, avail)
			if scaled := c.Scale < 1; scaled != tc.wantScale {
				t.Fatalf("scale %.2f, want scaled %v", c.Scale, tc.wantScale)
			}
			if !tc.wantScale {
				if cfg.Readings != 2_000_000 {
					t.Fatalf("readings %d changed", cfg.Readings)
				}
				return
			}
			// The chosen sizes fit (rounding down only shortens the run).
			if got := cfg.estimate(c, 1); got > avail+1 {
				t.Errorf("estimated %.0f s with the chosen sizes, %.0f s available", got, avail)
			}
			if math.Abs(c.EstimatedRunS-avail) > 1 && c.Scale > 0.05 {
				t.Errorf("estimate at the scale %.0f s, want the available %.0f s", c.EstimatedRunS, avail)
			}
			if cfg.Readings%10_000 != 0 || cfg.Readings < 10_000 || cfg.Readings >= 2_000_000 {
				t.Errorf("readings %d", cfg.Readings)
			}
		})
	}
}

// TestFitScalesTheCurve: the curve's least readings per point scale with
// the other sizes, never below 10,000; its readings per device do not (a
// big point's devices must read more than once), so on a slow machine the
// curve's big points can outlast the budget: the scale then stops at its
// floor and the run skips the points that do not fit (runCurve).
func TestFitScalesTheCurve(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ours          float64
		wantScale     bool
		wantReadings  int64
		wantFitsTotal bool
	}{
		{"a fast machine keeps the defaults", 200_000, false, DefaultCurveReadings, true},
		{"a machine like ours scales down", 20_000, true, 0, true},
		{"a slow machine cannot fit the big points", 5_000, true, 10_000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Budget: 570 * time.Second, MTAWeek: filepath.Join(t.TempDir(), "absent.csv.gz")}
			cfg.Defaults()
			c := Calibration{PreloadPerS: 90_000, LimitPerS: 150_000, OursPerS: tc.ours}
			avail := 480.0
			cfg.fit(&c, avail)
			if scaled := c.Scale < 1; scaled != tc.wantScale {
				t.Fatalf("scale %.2f, want scaled %v", c.Scale, tc.wantScale)
			}
			if cfg.CurvePerDevice != DefaultCurvePerDevice {
				t.Errorf("readings per device %v, want %v unscaled", cfg.CurvePerDevice, DefaultCurvePerDevice)
			}
			if tc.wantReadings > 0 && cfg.CurveReadings != tc.wantReadings {
				t.Errorf("curve readings %d, want %d", cfg.CurveReadings, tc.wantReadings)
			}
			if cfg.CurveReadings < 10_000 || cfg.CurveReadings > DefaultCurveReadings || cfg.CurveReadings%1000 != 0 {
				t.Errorf("curve readings %d", cfg.CurveReadings)
			}
			if fits := cfg.estimate(c, 1) <= avail+1; fits != tc.wantFitsTotal {
				t.Errorf("estimated %.0f s with the chosen sizes, %.0f s available: fits %v, want %v", cfg.estimate(c, 1), avail, fits, tc.wantFitsTotal)
			}
			if !tc.wantFitsTotal && c.Scale != 0.05 {
				t.Errorf("scale %.3f, want the floor 0.05 when nothing fits", c.Scale)
			}
		})
	}
}
