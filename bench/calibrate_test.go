package bench

import (
	"math"
	"testing"
	"time"
)

func TestFitScalesSizesToTheBudget(t *testing.T) {
	base := func() Config {
		c := Config{Readings: 2_000_000, ScalingReadings: 200_000, MemoryReadings: 500_000, Budget: 570 * time.Second}
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
