package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/status"
)

func newStatusCmd(a *app) *cobra.Command {
	var (
		cf        clientFlags
		topics    topicFlags
		lakeGroup string
		wait      bool
		asJSON    bool
		timeout   time.Duration
		interval  time.Duration
		marks     bool
		scrapeTO  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a deployment's consumer lag, topic offsets, dead-lettered and too-late counts, and watermarks",
		Long: `Reads, from Kafka, every pipeline consumer group's lag (goka groups on
their inputs, relays on the table changelogs, the lake-writer on the sink
topics), the topics' offsets, and the records on the dead-letter, too-late
and sink topics. Groups that never ran are marked and ignored.

Then, unless --watermarks=false, it scrapes the /metrics of each member
owning a windowed or ingest partition (the HTTP address members advertise
in their consumer group metadata) once, for the event-time watermarks:
per windowed partition the watermark, how far it is behind the newest
event time and the upstream partition holding it back (or all sources
idle, or how many sources it still waits for); per input partition the
source watermark and whether it is idle. The least of each group is
marked. A partition whose owner advertises no address or does not answer
within --scrape-timeout is shown as unknown.

--wait shows a progress bar with an ETA from the consumer lag and returns
(exit 0) once every group has caught up, e.g. after turnstile replay;
--timeout bounds the wait (exit 1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cc, err := cf.resolve(a, cmd)
			if err != nil {
				return err
			}
			opts, err := cc.KgoOpts()
			if err != nil {
				return err
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			adm := kadm.NewClient(cl)
			scfg := status.ForPipeline(processors.Config{Topics: topics.t}, lakeGroup)
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			var rep *status.Report
			if wait {
				rep, err = status.Wait(ctx, adm, status.WaitConfig{Config: scfg, Interval: interval, Progress: a.stderr})
			} else {
				rep, err = status.Collect(ctx, adm, scfg)
			}
			if err != nil {
				return err
			}
			if marks {
				w, err := status.CollectWatermarks(ctx, adm, scfg, scrapeTO)
				if err != nil {
					// The Kafka part of the report stands on its own.
					a.log.Warn("no watermarks", "err", err)
				}
				rep.Watermarks = w
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			if err := rep.WriteText(a.stdout); err != nil {
				return fmt.Errorf("status: %w", err)
			}
			return nil
		},
	}
	var wd status.WaitConfig
	wd.Defaults()
	fs := cmd.Flags()
	cf.register(fs, usesKafka)
	topics.register(fs, flagInputTopic, flagDeviceTopic, flagStationTopic, flagDLQTopic, flagLateTopic,
		flagReadingsTopic)
	fs.StringVar(&lakeGroup, "lake-group", datalake.DefaultGroup, "the lake-writer's consumer group (\"\": leave it out)")
	fs.BoolVar(&wait, "wait", false, "wait until every group has caught up, with a progress bar and ETA")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.DurationVar(&timeout, "timeout", 0, "give up after this long (0: no limit)")
	fs.DurationVar(&interval, "interval", wd.Interval, "how often --wait polls")
	fs.BoolVar(&marks, "watermarks", true, "scrape the owning members' /metrics for the watermarks (false: Kafka only)")
	fs.DurationVar(&scrapeTO, "scrape-timeout", status.DefaultScrapeTimeout, "how long each member has to answer /metrics")
	return cmd
}
