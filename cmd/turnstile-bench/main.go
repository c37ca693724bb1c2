package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/turnstile-streams/turnstile/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The memory phase re-executes this binary as one pipeline member.
	if spec := os.Getenv(bench.MemberEnv); spec != "" {
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if err := bench.RunMember(ctx, spec, log); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "turnstile-bench member:", err)
			os.Exit(1)
		}
		return
	}
	if err := newCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "turnstile-bench:", err)
		os.Exit(1)
	}
}

func newCmd() *cobra.Command {
	var (
		cfg      bench.Config
		jsonPath string
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "turnstile-bench",
		Short: "Throughput, latency, restore, scaling, memory, a cost curve, a real MTA week and micro-benchmarks of the turnstile pipeline, in one run",
		Long: `Runs the whole pipeline on the embedded broker and schema registry, in this
process, over a preloaded synthetic MTA-shaped stream, side by side with "the
limit" (a plain franz-go consumer computing the same windows in memory) and
"the usual goka way" (one goka processor, LevelDB, JSON values), and checks
that all three publish identical window totals. Then: close latency in live
mode, table restore and restarts, scaling over in-process members, one
member in its own process (its memory), a cost curve (ours as a member
process against the limit at several device and partition counts), a real
MTA week through turnstile produce into turnstile dev (skipped without the
file), codec and storage micro-benchmarks. Prints markdown tables on stdout
and writes every figure to --json. Nothing asserts on speed; it fails only
when the variants disagree, when our pipeline publishes a window of the
preloaded, ordered input more than once (a correction, REVISION > 1), or a
phase cannot complete.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
			cfg.Progress = os.Stderr
			// Sizes given as flags are the user's: no calibration.
			for _, f := range []string{"readings", "scaling-readings", "memory-readings", "curve-readings", "curve-per-device"} {
				if cmd.Flags().Changed(f) {
					cfg.Calibrate = false
				}
			}
			res, err := bench.Run(cmd.Context(), cfg)
			if res == nil || len(res.Variants) == 0 {
				return err
			}
			// A failed check still prints and records what was measured.
			res.Markdown(cmd.OutOrStdout())
			if jsonPath != "" {
				b, jerr := json.MarshalIndent(res, "", "  ")
				if jerr == nil {
					jerr = os.WriteFile(jsonPath, append(b, '\n'), 0o644)
				}
				if jerr != nil {
					return errors.Join(err, jerr)
				}
			}
			return err
		},
	}
	// The defaults are the harness's (a zero bench.Config's).
	var d bench.Config
	d.Defaults()
	fs := cmd.Flags()
	fs.Int64Var(&cfg.Readings, "readings", d.Readings, "readings preloaded for the throughput comparison")
	fs.IntVar(&cfg.Devices, "devices", d.Devices, "devices in the synthetic stream (up to 7 per booth of the station reference's 768, then copies of it with renamed stations: ~11 devices per station)")
	fs.IntVar(&cfg.Partitions, "partitions", d.Partitions, "partitions of every topic")
	fs.DurationVar(&cfg.MarkInterval, "mark-interval", d.MarkInterval, "pipeline watermark mark throttle (by default the pipeline's own)")
	fs.DurationVar(&cfg.TickInterval, "tick-interval", d.TickInterval, "pipeline tick interval (by default the pipeline's own)")
	fs.DurationVar(&cfg.RecoverOnOpen, "recover-on-open", 0, "how long a store opening may read its changelog itself before goka recovers the rest (0: the stores' default; negative: goka recovers everything)")
	fs.DurationVar(&cfg.AlignDrift, "align-drift", d.AlignDrift, "watermark alignment drift of the in-process pipelines (by default the pipeline's own; negative: off)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", d.IdleTimeout, "pipeline --idle-timeout, which closes the last windows")
	fs.DurationVar(&cfg.LatencyDuration, "latency-duration", d.LatencyDuration, "how long the live latency phase measures")
	fs.Float64Var(&cfg.LatencyLoad, "latency-load", d.LatencyLoad, "live produce rate as a fraction of ours' measured throughput")
	fs.Float64Var(&cfg.LatencyRate, "latency-rate", 0, "live produce rate in readings/s, instead of --latency-load (to compare builds at one load)")
	fs.Int64Var(&cfg.ScalingReadings, "scaling-readings", d.ScalingReadings, "readings of each scaling run")
	fs.IntVar(&cfg.ScalingMembers, "scaling-members", d.ScalingMembers, "scaling runs 1..N in-process members")
	fs.Int64Var(&cfg.MemoryReadings, "memory-readings", d.MemoryReadings, "readings of the memory phase (one member in its own process)")
	fs.IntSliceVar(&cfg.CurveDevices, "curve-devices", d.CurveDevices, "cost curve: device counts (each at every --curve-partitions)")
	fs.IntSliceVar(&cfg.CurvePartitions, "curve-partitions", d.CurvePartitions, "cost curve: partition counts")
	fs.Int64Var(&cfg.CurveReadings, "curve-readings", d.CurveReadings, "cost curve: the least readings of a point")
	fs.Float64Var(&cfg.CurvePerDevice, "curve-per-device", d.CurvePerDevice, "cost curve: the least readings per device of a point")
	fs.StringVar(&cfg.CurveProfileDir, "curve-profile-dir", "", "write a pprof CPU profile of each curve point's member process to this directory")
	fs.StringVar(&cfg.MTAWeek, "mta-week", d.MTAWeek, "the real MTA week the mtaweek phase replays (the phase is skipped when it is absent)")
	fs.IntVar(&cfg.MTAWeekTrials, "mta-week-trials", 3, "how many times the mtaweek phase runs the week; it reports the median")
	fs.BoolVar(&cfg.MTAWeekNoLake, "mta-week-no-lake", true, "the mtaweek phase also runs the week once with dev's lake-writer off (--lake=false), for context")
	fs.StringVar(&cfg.TurnstileBin, "turnstile-bin", "", "the turnstile binary the mtaweek phase runs (default: go build ./cmd/turnstile, from the repository's root)")
	fs.DurationVar(&cfg.MicroTime, "micro-time", d.MicroTime, "duration of each micro-benchmark")
	fs.StringSliceVar(&cfg.Phases, "phases", d.Phases, "phases to run (throughput always runs)")
	fs.Int64Var(&cfg.Seed, "seed", d.Seed, "seed of the synthetic stream")
	fs.DurationVar(&cfg.Budget, "budget", d.Budget, "time the run should take; later phases that would not fit are skipped with a note")
	fs.StringVar(&cfg.Dir, "dir", "", "work directory for the brokers' logs and local state (default: a temporary directory)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary work directory")
	fs.StringVar(&cfg.CPUProfile, "cpu-profile", "", "write a pprof CPU profile of ours' throughput run")
	fs.StringVar(&cfg.HeapProfile, "heap-profile", "", "write a pprof heap profile at the end of ours' throughput run")
	fs.StringVar(&cfg.LatencyProfile, "latency-profile", "", "write a pprof CPU profile of the latency phase's live stream")
	fs.StringVar(&cfg.RestartProfile, "restart-profile", "", "write a pprof CPU profile of the restore phase's cold restart (the table rebuilt from its changelog)")
	fs.StringVar(&jsonPath, "json", "bench/results.json", "write every figure here as JSON (empty: don't)")
	fs.StringVar(&logLevel, "log-level", "error", "level of the components' logs on stderr")
	fs.BoolVar(&cfg.Calibrate, "calibrate", true, "measure this machine first (a 60,000-reading run) and scale the sizes not given as flags down so every phase fits --budget")
	return cmd
}
