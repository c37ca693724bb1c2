package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestCurvePhase runs the cost curve at a tiny size, two points (a member
// process each): ours must publish the limit's windows, each once
// (runCurve records a failure otherwise), and every figure of a point must
// have been measured.
func TestCurvePhase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Readings: 1, CurveDevices: []int{300, 700}, CurvePartitions: []int{3}, CurveReadings: 1000, CurvePerDevice: 3,
		Dir: t.TempDir(), Logger: testenv.Logger(t), PhaseTimeout: time.Minute}
	cfg.Defaults()
	var res Results
	res.Settings.CurveReadings, res.Settings.CurvePerDevice = cfg.CurveReadings, cfg.CurvePerDevice
	runCurve(ctx, &cfg, rates{1e5, 1e5, 1e4}, func() time.Duration { return time.Hour }, &res, t.Logf)
	if len(res.Failures) > 0 || len(res.Notes) > 0 {
		t.Fatalf("failures %q, notes %q", res.Failures, res.Notes)
	}
	if len(res.Curve) != 2 {
		t.Fatalf("%d points, want 2: %+v", len(res.Curve), res.Curve)
	}
	for i, want := range []struct {
		devices  int
		readings int64
	}{{300, 1000}, {700, 2100}} {
		pt := res.Curve[i]
		if pt.Devices != want.devices || pt.Partitions != 3 || pt.Readings != want.readings || pt.Stations < 1 || pt.Stations >= pt.Devices {
			t.Errorf("point %d: %d devices, %d stations, %d partitions, %d readings; want %d devices, 3 partitions, %d readings",
				i, pt.Devices, pt.Stations, pt.Partitions, pt.Readings, want.devices, want.readings)
		}
		if pt.OursPerS <= 0 || pt.LimitPerS <= 0 || pt.MemberRSSPeakMiB <= 0 || pt.MemberCPUPerReading <= 0 ||
			pt.OursCPUPerReading < pt.MemberCPUPerReading || pt.DeviceWindows == 0 || pt.StationWindows == 0 {
			t.Errorf("point %d: %+v", i, pt)
		}
	}
	var md strings.Builder
	res.Markdown(&md)
	t.Log("\n" + md.String())
	if !strings.Contains(md.String(), "| 700 | ") {
		t.Error("the report has no curve table")
	}
}

// TestCurveSkipsWhatDoesNotFit: a point whose estimate exceeds what is left
// of the budget is not run; the points from it on are noted as skipped.
func TestCurveSkipsWhatDoesNotFit(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	cfg.Defaults()
	var res Results
	runCurve(context.Background(), &cfg, rates{1e5, 1e5, 1e4}, func() time.Duration { return time.Second }, &res, t.Logf)
	if len(res.Curve) != 0 || len(res.Failures) != 0 || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "6 of 6 points skipped") {
		t.Fatalf("points %+v, failures %q, notes %q", res.Curve, res.Failures, res.Notes)
	}
}
