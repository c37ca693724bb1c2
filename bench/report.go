package bench

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// assess compares the figures with the targets.
func (r *Results) assess() {
	add := func(name, goal string, value float64, measured string, met bool) {
		r.Targets = append(r.Targets, Target{Name: name, Goal: goal, Value: value, Measured: measured, Met: met})
	}
	add("ours / limit", ">= 0.25", r.Ratio.OursOverLimit, fmt.Sprintf("%.3f", r.Ratio.OursOverLimit), r.Ratio.OursOverLimit >= 0.25)
	if r.Throughput.Goka > 0 {
		add("ours / usual goka", ">= 1 (stretch 2)", r.Ratio.OursOverGoka, fmt.Sprintf("%.2f", r.Ratio.OursOverGoka), r.Ratio.OursOverGoka >= 1)
	}
	add("ours throughput", ">= 100,000 readings/s (2 cores, broker in process)", r.Throughput.Ours,
		fmt.Sprintf("%.0f readings/s on %d cores", r.Throughput.Ours, r.Machine.Cores), r.Throughput.Ours >= 100_000)
	if r.Latency != nil {
		add("p99 close latency", "<= 250 ms", r.Latency.P99, fmt.Sprintf("%.0f ms", r.Latency.P99), r.Latency.P99 <= 250)
	}
	if r.Memory != nil {
		add("one member's peak RSS at full speed", "<= 256 MiB, default flags", r.RSSMiB.Member, fmt.Sprintf("%.0f MiB (one member in its own process; the bench process, broker included, %.0f MiB)",
			r.RSSMiB.Member, r.RSSMiB.Peak), r.RSSMiB.Member <= 256)
	} else {
		add("peak RSS at full speed", "<= 256 MiB", r.RSSMiB.Peak, fmt.Sprintf("%.0f MiB (process, broker included; Go heap peak %.0f MiB)", r.RSSMiB.Peak, r.RSSMiB.GoHeapPeak), r.RSSMiB.Peak <= 256)
	}
	if w := r.MTAWeek; w != nil {
		add("a real MTA week end to end ÷ the producer's own time", "<= 1.5", w.Ratio, fmt.Sprintf("%.2f (%.1f s ÷ %.1f s; the median of %d runs)", w.Ratio, w.EndToEndS, w.ProducerS, len(w.Trials)), w.Ratio <= 1.5)
	}
	if r.Restore != nil {
		add("restore", ">= 500,000 records/s", r.Restore.RecordsPerS, fmt.Sprintf("%.0f records/s", r.Restore.RecordsPerS), r.Restore.RecordsPerS >= 500_000)
		add("restore size", ">= 1 GB of changelog", float64(r.Restore.Bytes)/1e9,
			fmt.Sprintf("%.2f GB (%d records)", float64(r.Restore.Bytes)/1e9, r.Restore.Records), r.Restore.Bytes >= 1e9)
		add("warm restart", "<= 1 s", r.Restore.WarmS, fmt.Sprintf("%.2f s", r.Restore.WarmS), r.Restore.WarmS <= 1)
		add("cold restart (empty local state)", "<= 3 s", r.Restore.ColdS, fmt.Sprintf("%.2f s", r.Restore.ColdS), r.Restore.ColdS <= 3)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// Markdown writes the results as markdown tables.
func (r *Results) Markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	m := r.Machine
	p("Machine: %s, %d cores (GOMAXPROCS %d), %.0f GiB, %s %s/%s; load average %.1f at start. Run took %.0f s.\n\n",
		m.CPU, m.Cores, m.GOMAXPROCS, m.MemoryMiB/1024, m.GoVersion, m.OS, m.Arch, m.LoadAvg, r.Seconds)
	in := r.Input
	p("Input: %d synthetic readings (%d devices, %d stations, a reading per device every 4 h, %s to %s, %.0f MB of Avro), preloaded into the embedded broker in %.1f s. Window %s, grace %s, %d partitions.\n\n",
		in.Readings, in.Devices, in.Stations, in.EventFrom.Format("2006-01-02"), in.EventTo.Format("2006-01-02"), float64(in.Bytes)/1e6,
		in.Seconds, r.Settings.Window, r.Settings.Grace, r.Settings.Partitions)
	if c := r.Calibration; c != nil {
		p("Sizes: %d readings, %d per scaling run, %d in the memory phase, curve points of at least %d readings and %.1f per device; chosen by a %d-reading calibration run (preload %.0f/s, limit %.0f/s, ours %.0f/s, %.0f s) to fit the budget: ×%.3f of the defaults.\n\n",
			r.Settings.Readings, r.Settings.ScalingReadings, r.Settings.MemoryReadings, r.Settings.CurveReadings, r.Settings.CurvePerDevice,
			c.Readings, c.PreloadPerS, c.LimitPerS, c.OursPerS, c.Seconds, min(1, c.Scale))
	}

	p("### Throughput, same input, same process\n\n")
	p("| variant | readings/s | ours ÷ it | CPU µs/reading | allocated B/reading | peak RSS MiB | startup s | device windows | station windows | corrections device / station |\n")
	p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	var ours float64
	for _, v := range r.Variants {
		if v.Name == "ours" {
			ours = v.PerSecond
		}
	}
	for _, v := range r.Variants {
		st := "—"
		if v.Stations != nil {
			st = fmt.Sprintf("%d", v.Stations.Windows)
		}
		// Only ours publishes revisions; the limit publishes nothing and
		// the usual goka way's republished windows are its duplicates.
		corr := "—"
		if v.Name == "ours" {
			corr = fmt.Sprintf("%d / %d", v.DeviceCorrections, v.StationCorrections)
		}
		p("| %s | %.0f | %.2f | %.1f | %.0f | %.0f | %.1f | %d | %s | %s |\n", v.Name, v.PerSecond, ours/v.PerSecond, v.CPUPerReading,
			v.AllocPerReading, v.RSSPeakMiB, v.StartupSeconds, v.Devices.Windows, st, corr)
	}
	if len(r.Failures) == 0 {
		p("\nAll variants' window totals are identical (checked: count, entries, exits and a hash of every window; stations also DEVICES). ")
	} else {
		p("\n**CHECKS FAILED:** %s. Device windows are identical across the variants (count, entries, exits and a hash of every window). ", strings.Join(r.Failures, "; "))
	}
	for _, v := range r.Variants {
		if v.Name == "ours" && v.ProcessedSeconds > 0 {
			p("Ours applied the last reading to its device windows after %.1f s of its %.1f s (%.0f readings/s); the rest is the idle timeout (%s) closing the last windows and their publication.",
				v.ProcessedSeconds, v.Seconds, float64(v.Readings)/v.ProcessedSeconds, r.Settings.IdleTimeout)
		}
		if v.Duplicates > 0 || v.Redelivered > 0 {
			p(" %s was redelivered %d readings after rebalances (skipped by offset) and published %d windows more than once (at-least-once; counted once).", v.Name, v.Redelivered, v.Duplicates)
		}
		if v.Name == "ours" {
			p(" %s published %d device and %d station window corrections (REVISION > 1); with in-order preloaded input the watermark closes each window once, so both should be 0.",
				v.Name, v.DeviceCorrections, v.StationCorrections)
			if v.Readings > 0 {
				p(" Event-time progress cost %.0f watermark marks (%.2f per 1,000 readings), each a record on the readings topic (and, when it moves the merge, a metadata write in the windows table).",
					v.Marks, 1000*v.Marks/float64(v.Readings))
			}
		}
	}
	p("\n\n")

	if l := r.Latency; l != nil {
		p("### Close latency, live mode\n\n")
		p("| load | windows | p50 ms | p99 ms | p99.9 ms | max ms | missing | device corrections |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		load := 100 * r.Settings.LatencyLoad
		for _, v := range r.Variants {
			if v.Name == "ours" && v.PerSecond > 0 {
				load = 100 * l.Rate / v.PerSecond
			}
		}
		p("| %.0f readings/s (%.0f%% of ours' max) for %.0f s | %d | %.0f | %.0f | %.0f | %.0f | %d | %d |\n\n",
			l.Rate, load, l.Seconds, l.Windows, l.P50, l.P99, l.P999, l.Max, l.Missing, l.DeviceCorrections)
		p("Device corrections are records with REVISION > 1 on the device windows topic (not latency samples); this phase does not follow the station windows topic.\n\n")
	}
	if rs := r.Restore; rs != nil {
		p("### Restore\n\n")
		p("| changelog records | MB | seconds | records/s | MB/s | warm restart s | cold restart s |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		p("| %d | %.0f | %.2f | %.0f | %.1f | %.2f | %.2f |\n\n", rs.Records, float64(rs.Bytes)/1e6, rs.Seconds, rs.RecordsPerS, rs.MBPerS, rs.WarmS, rs.ColdS)
	}
	if len(r.Scaling) > 0 {
		p("### Scaling (in-process members, one broker, same 2 cores)\n\n")
		p("| members | readings | readings/s | × one member | peak RSS MiB | corrections device / station |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, v := range r.Scaling {
			p("| %d | %d | %.0f | %.2f | %.0f | %d / %d |\n", v.Members, v.Readings, v.PerSecond, v.PerSecond/r.Scaling[0].PerSecond, v.RSSPeakMiB,
				v.DeviceCorrections, v.StationCorrections)
		}
		p("\nCorrections are records with REVISION > 1 on the device and station windows topics; the input is produced while the members run, so they are reported, not checked.\n\n")
	}
	if m := r.Memory; m != nil {
		p("### Memory: one member in its own process\n\n")
		p("| readings | readings/s | peak RSS MiB | corrections device / station |\n| ---: | ---: | ---: | ---: |\n")
		p("| %d | %.0f | %.0f | %d / %d |\n\n", m.Readings, m.PerSecond, m.RSSPeakMiB, m.DeviceCorrections, m.StationCorrections)
		p("The member is this binary re-executed as a pipeline member (`turnstile process` settings, default state options) against this process's broker; the stream is produced at full speed while it runs, so the rate includes the producer competing for the cores. Corrections are records with REVISION > 1 on the sink topics (reported, not checked).\n\n")
	}
	if len(r.Curve) > 0 {
		p("### Cost curve: ours against the limit by devices and partitions\n\n")
		p("| devices | stations | partitions | readings | ours readings/s | limit readings/s | ours ÷ limit | ours applied readings/s | ours CPU µs/reading | of it the member | member peak RSS MiB |\n")
		p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, c := range r.Curve {
			p("| %d | %d | %d | %d | %.0f | %.0f | %.3f | %.0f | %.1f | %.1f | %.0f |\n", c.Devices, c.Stations, c.Partitions, c.Readings,
				c.OursPerS, c.LimitPerS, c.OursOverLimit, c.OursAppliedPerS, c.OursCPUPerReading, c.MemberCPUPerReading, c.MemberRSSPeakMiB)
		}
		p("\nEach point in a broker of its own: the input preloaded (a point has at least %d readings and %.1f per device), the limit over it, then ours as one member in its own process (this binary re-executed, `turnstile process` settings) timed from its first reading to the last window on the sinks, as in the throughput table; applied is to its last reading applied, without the idle timeout (%s) and the publication of the last windows that follow. Windows checked against the limit's (each published once). Ours' CPU is the member's and this process's (the broker) in that span; the member's RSS is sampled from its start.\n\n",
			r.Settings.CurveReadings, r.Settings.CurvePerDevice, r.Settings.IdleTimeout)
	}
	if w := r.MTAWeek; w != nil {
		p("### A real MTA week, as a user runs it\n\n")
		p("| run | producer s | first reading s | end to end s | end to end ÷ producer | readings/s end to end |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
		row := func(name string, t MTAWeekTrial) {
			p("| %s | %.1f | %.1f | %.1f | %.2f | %.0f |\n", name, t.ProducerS, t.FirstReadingS, t.EndToEndS, t.Ratio, t.PerSecond)
		}
		for i, t := range w.Trials {
			row(fmt.Sprintf("%d", i+1), t)
		}
		p("| **median** | %.1f | %.1f | %.1f | **%.2f** | %.0f |\n", w.ProducerS, w.FirstReadingS, w.EndToEndS, w.Ratio, w.PerSecond)
		if w.NoLake != nil {
			row("dev --lake=false (context)", *w.NoLake)
		}
		p("\n%s: %d readings, %d device and %d station windows. `turnstile produce --source csv --file %s --speed -1` into `turnstile dev %s`, each in its own process, a fresh dev per run: the producer's time is from starting it to its exit (first reading: when the first was on the input topic), end to end until the last of the windows testsupport/reference computes from the same rows was on the sink topics (checked in every run: count, entries, exits and a hash of every window; the median run had %d device and %d station corrections). The goal is checked against the median run.\n\n",
			filepath.Base(w.File), w.Readings, w.DeviceWindows, w.StationWindows, filepath.Base(w.File), w.DevFlags, w.DeviceCorrections, w.StationCorrections)
	}
	if len(r.Micro) > 0 {
		p("### Micro-benchmarks\n\n")
		p("| benchmark | ns/op | ops/s | allocs/op | B/op |\n| --- | ---: | ---: | ---: | ---: |\n")
		for _, mb := range r.Micro {
			p("| %s | %.0f | %.0f | %.1f | %.0f |\n", mb.Name, mb.NsPerOp, mb.OpsPerS, mb.AllocsPerOp, mb.BytesPerOp)
		}
		byName := map[string]Micro{}
		for _, mb := range r.Micro {
			byName[mb.Name] = mb
		}
		var ratios []string
		for _, ph := range []string{"recovery write", "write", "read"} {
			a, b := byName["storage: pebble (ours) "+ph], byName["storage: leveldb (goka default) "+ph]
			if a.OpsPerS > 0 && b.OpsPerS > 0 {
				ratios = append(ratios, fmt.Sprintf("%s %.2f×", ph, a.OpsPerS/b.OpsPerS))
			}
		}
		if len(ratios) > 0 {
			p("\nPebble ÷ LevelDB: %s.\n", strings.Join(ratios, ", "))
		}
		p("\n")
	}
	p("### Targets\n\n| target | goal | measured | met |\n| --- | --- | --- | --- |\n")
	for _, t := range r.Targets {
		p("| %s | %s | %s | %s |\n", t.Name, t.Goal, t.Measured, yesNo(t.Met))
	}
	for _, n := range r.Notes {
		p("\n%s\n", n)
	}
}
