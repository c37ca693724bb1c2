package bench

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
)

// CurvePoint is one point of the cost curve: ours (one member in its own
// process) and the limit over the same preloaded input of one size, in a
// broker of their own.
type CurvePoint struct {
	Devices    int   `json:"devices"`
	Stations   int   `json:"stations"`
	Partitions int   `json:"partitions"`
	Readings   int64 `json:"readings"`
	// PreloadS is the time the preload took (not measured against anything).
	PreloadS float64 `json:"preload_s"`

	// Ours runs from the member's first decoded reading to the last window
	// (device and station) on its sink topic, as the throughput phase's.
	OursPerS    float64 `json:"ours_readings_per_s"`
	OursSeconds float64 `json:"ours_s"`
	// OursProcessedS is from the first reading to the last one applied to
	// device windows, OursAppliedPerS the rate over it: the rest of
	// OursSeconds is the idle timeout closing the last windows and their
	// publication, about 1½ s whatever the size, which a small point's
	// OursPerS feels.
	OursProcessedS  float64 `json:"ours_processed_s,omitempty"`
	OursAppliedPerS float64 `json:"ours_applied_readings_per_s,omitempty"`
	// OursStartupS is from starting the member process to its first
	// decoded reading (process start, group joins, table opens).
	OursStartupS  float64 `json:"ours_startup_s"`
	LimitPerS     float64 `json:"limit_readings_per_s"`
	OursOverLimit float64 `json:"ours_over_limit"`
	// OursCPUPerReading is the member process's CPU and this process's (the
	// broker, the station follower) in the same span, per reading, in
	// microseconds: the throughput phase's accounting. MemberCPUPerReading
	// is the member's part alone.
	OursCPUPerReading   float64 `json:"ours_cpu_us_per_reading"`
	MemberCPUPerReading float64 `json:"member_cpu_us_per_reading"`
	// LimitCPUPerReading is this process's (the limit and the broker).
	LimitCPUPerReading float64 `json:"limit_cpu_us_per_reading"`
	// MemberRSSPeakMiB is the member process's peak RSS, from its start
	// to the last window on the sinks.
	MemberRSSPeakMiB float64 `json:"member_rss_peak_mib"`

	DeviceWindows  int64 `json:"device_windows"`
	StationWindows int64 `json:"station_windows"`
	// DeviceCorrections and StationCorrections are records with REVISION >
	// 1 on the sink topics: with preloaded, ordered input both must be 0
	// (a failed check otherwise, as in the throughput phase).
	DeviceCorrections  int64 `json:"device_corrections"`
	StationCorrections int64 `json:"station_corrections"`
}

// curvePoints are the points of the curve, in the order they run.
func (cfg *Config) curvePoints() (points [][2]int) {
	for _, p := range cfg.CurvePartitions {
		for _, d := range cfg.CurveDevices {
			points = append(points, [2]int{d, p})
		}
	}
	return points
}

// curveReadings is a point's input: CurveReadings, or CurvePerDevice
// readings per device when that is more, so that a big point's devices
// read more than once (a device's first reading makes no difference).
func (cfg *Config) curveReadings(devices int) int64 {
	return max(cfg.CurveReadings, int64(math.Ceil(cfg.CurvePerDevice*float64(devices))))
}

// rates are the speeds a time estimate is made from, in readings/s, as
// measured with cfg.Devices and cfg.Partitions.
type rates struct{ preload, limit, ours float64 }

// curvePointEstimate is a point's expected duration in seconds: its
// preload, the limit and ours at the given rates, plus startups and checks.
// Ours is taken to be slower with more devices or partitions than the
// rates were measured with (the devices' ratio to the power 0.15, or the
// square root of the partitions', whichever is more: 1.7× at 200,000
// devices, 2× at 24 partitions, about what the first curves measured).
func (cfg *Config) curvePointEstimate(devices, partitions int, r rates) float64 {
	n := float64(cfg.curveReadings(devices))
	slower := max(math.Pow(max(1, float64(devices)/float64(cfg.Devices)), 0.15), math.Sqrt(max(1, float64(partitions)/float64(cfg.Partitions))))
	return n/r.preload + n/r.limit + n*slower/r.ours + 10
}

func (cfg *Config) curveEstimate(r rates) float64 {
	var s float64
	for _, pt := range cfg.curvePoints() {
		s += cfg.curvePointEstimate(pt[0], pt[1], r)
	}
	return s
}

// runCurvePoint measures one point of the cost curve: in a broker of its
// own, it preloads the synthetic stream of the point's devices into an
// input topic of the point's partitions, runs the limit over it, then one
// pipeline member in its own process (re-executed as the memory phase's),
// sampling its RSS and CPU, until the last window is on the sink topics,
// and checks that ours published the limit's windows, each once.
func runCurvePoint(ctx context.Context, cfg *Config, devices, partitions int, say func(string, ...any)) (CurvePoint, error) {
	pc := *cfg
	pc.Devices, pc.Partitions = devices, partitions
	n := cfg.curveReadings(devices)
	pt := CurvePoint{Devices: devices, Partitions: partitions, Readings: n}
	dir := filepath.Join(cfg.Dir, fmt.Sprintf("curve-%d-%d", devices, partitions))
	e, err := startEnv(ctx, dir, cfg.Logger)
	if err != nil {
		return pt, err
	}
	defer e.close()
	topics := processors.DefaultTopics()
	in, err := preload(ctx, e, &pc, topics.Input, n, func(string, ...any) {})
	if err != nil {
		return pt, err
	}
	pt.Devices, pt.Stations, pt.PreloadS = in.Devices, in.Stations, in.Seconds
	limit, err := runLimit(ctx, e, &pc, topics.Input, n)
	if err != nil {
		return pt, err
	}
	pt.LimitPerS, pt.LimitCPUPerReading = limit.PerSecond, limit.CPUPerReading
	want := expected{limit.Devices, *limit.Stations}
	pt.DeviceWindows, pt.StationWindows = limit.Devices.Windows, limit.Stations.Windows

	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	f, err := followStations(fctx, e, topics.StationWindows)
	if err != nil {
		return pt, err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	begin := time.Now()
	var profile string
	if cfg.CurveProfileDir != "" {
		profile = filepath.Join(cfg.CurveProfileDir, fmt.Sprintf("member-%d-%d.pprof", devices, partitions))
	}
	mp, err := startMemberProc(e, &pc, dir, true, profile)
	if err != nil {
		return pt, err
	}
	rss := startRSSPeakOf(mp.proc)
	fail := func(err error) (CurvePoint, error) {
		rss.done()
		if serr := mp.stop(); serr != nil {
			err = fmt.Errorf("%w; %w", err, serr)
		}
		return pt, err
	}
	t0, err := mp.waitIngested(wctx)
	if err != nil {
		return fail(err)
	}
	cpuM0, cpuS0 := procCPU(mp.proc), cpuTime()
	pt.OursStartupS = t0.Sub(begin).Seconds()
	end, err := waitSinks(wctx, e, f, topics, want)
	cpuM, cpuS := procCPU(mp.proc)-cpuM0, cpuTime()-cpuS0
	pt.MemberRSSPeakMiB = rss.done()
	if err != nil {
		return fail(fmt.Errorf("%w (member log: %s)", err, mp.log))
	}
	pt.OursSeconds = end.Sub(t0).Seconds()
	pt.OursPerS = float64(n) / pt.OursSeconds
	if at := mp.appliedAt(float64(n)); !at.IsZero() {
		pt.OursProcessedS = at.Sub(t0).Seconds()
		pt.OursAppliedPerS = float64(n) / pt.OursProcessedS
	}
	pt.OursOverLimit = pt.OursPerS / pt.LimitPerS
	pt.MemberCPUPerReading = float64(cpuM.Microseconds()) / float64(n)
	pt.OursCPUPerReading = float64((cpuM + cpuS).Microseconds()) / float64(n)

	var v Variant
	if err := checkOurs(ctx, e, &v, topics, f); err != nil {
		return fail(err)
	}
	pt.DeviceCorrections, pt.StationCorrections = v.DeviceCorrections, v.StationCorrections
	if err := mp.stop(); err != nil {
		return pt, err
	}
	if v.Devices != want.devices || *v.Stations != want.stations {
		return pt, fmt.Errorf("bench: curve at %d devices, %d partitions: ours' windows differ from the limit's:\n  device windows  ours %v\n                  limit %v\n  station windows ours %v\n                  limit %v",
			devices, partitions, v.Devices, want.devices, *v.Stations, want.stations)
	}
	say("curve: %d devices (%d stations), %d partitions, %d readings: ours %.0f/s (applied %.0f/s; %.0f CPU-µs/reading, member %.0f; member peak RSS %.0f MiB), limit %.0f/s: ours ÷ limit %.3f",
		pt.Devices, pt.Stations, partitions, n, pt.OursPerS, pt.OursAppliedPerS, pt.OursCPUPerReading, pt.MemberCPUPerReading, pt.MemberRSSPeakMiB, pt.LimitPerS, pt.OursOverLimit)
	return pt, nil
}

// runCurve runs each of the curve's points whose estimate fits in what is
// left of the budget (left; r are the rates to estimate each point with),
// noting those it skips. A point whose windows differ, or that publishes a
// correction, is a failed check (the run fails at the end); an error ends
// the curve.
func runCurve(ctx context.Context, cfg *Config, r rates, left func() time.Duration, res *Results, say func(string, ...any)) {
	var skipped []string
	defer func() {
		if len(skipped) > 0 {
			n := fmt.Sprintf("Curve: %d of %d points skipped to keep the %v budget (devices × partitions: estimated s, s left): %s.",
				len(skipped), len(cfg.curvePoints()), cfg.Budget, strings.Join(skipped, "; "))
			res.Notes = append(res.Notes, n)
			say("%s", n)
		}
	}()
	for _, p := range cfg.curvePoints() {
		est := time.Duration(cfg.curvePointEstimate(p[0], p[1], r) * float64(time.Second))
		if l := left(); est > l {
			skipped = append(skipped, fmt.Sprintf("%d × %d: %.0f, %.0f", p[0], p[1], est.Seconds(), l.Seconds()))
			continue
		}
		say("curve: %d devices, %d partitions: preloading %d readings", p[0], p[1], cfg.curveReadings(p[0]))
		pt, err := runCurvePoint(ctx, cfg, p[0], p[1], say)
		if err != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("curve at %d devices, %d partitions: %v", p[0], p[1], err))
			say("curve: %d devices, %d partitions FAILED: %v", p[0], p[1], err)
			return
		}
		res.Curve = append(res.Curve, pt)
		if pt.DeviceCorrections > 0 || pt.StationCorrections > 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("curve at %d devices, %d partitions: ours published %d device and %d station window corrections (REVISION > 1) on the preloaded, ordered input",
				p[0], p[1], pt.DeviceCorrections, pt.StationCorrections))
		}
	}
}
