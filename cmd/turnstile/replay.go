package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/replay"
)

func newReplayCmd(a *app) *cobra.Command {
	var (
		cf               clientFlags
		topics           topicFlags
		stages           []string
		from             string
		retention, grace time.Duration
		dryRun           bool
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Reprocess the input from the earliest offset or a point in time, as a new generation",
		Long: `Resets the processing groups so that, when their members start again, they
process the input again: from the earliest retained offset (--from earliest)
or from the first record at or after an RFC 3339 time.

Stop every member first (turnstile replay refuses while groups have members and
says which). The replay clears the tables of the replayed stages (their
changelog topics are recreated; members rebuild local state from them), resets
the committed offsets, and records a new generation. Windows published from
then on carry the new generation, and downstream the highest generation, then
the highest revision, of a window wins, also in turnstile lake compact.

Replayed input arrives in the same order as the first time, so readings that
were too late then are too late again unless the generation has a longer
--retention (and --grace): these are recorded with the generation and
override the members' flags while it lasts.

Then start the members again and follow the catch-up with
turnstile status --wait.`,
		Example: `  turnstile replay --from earliest --retention 720h --dry-run
  turnstile replay --from 2024-01-06T00:00:00Z --groups windows`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := cf.resolve(a, cmd)
			if err != nil {
				return err
			}
			opts, err := cc.KgoOpts()
			if err != nil {
				return err
			}
			plan, err := replay.Prepare(cmd.Context(), replay.Config{
				KafkaOpts: opts, Pipeline: processors.Config{Topics: topics.t}, Stages: stages,
				From: from, Retention: retention, Grace: grace, Logger: a.log,
			})
			var active *replay.ActiveError
			if errors.As(err, &active) {
				return fmt.Errorf("%w\n(stop them, or wait for their session timeout after a crash, then run replay again)", err)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			plan.Print(out)
			if dryRun {
				fmt.Fprintln(out, "dry run: nothing changed")
				return nil
			}
			if err := plan.Execute(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(out, "generation %d recorded; start the members, then follow them with: turnstile status --wait\n", plan.Generation.Number)
			return nil
		},
	}
	cf.register(cmd.Flags(), usesKafka|usesProduce)
	// The groups' inputs and the generations topic; the sinks are only
	// written to.
	topics.register(cmd.Flags(), flagInputTopic, flagReadingsTopic, flagGenerationsTopic)
	fs := cmd.Flags()
	fs.StringSliceVar(&stages, "groups", nil, "stages to replay: "+strings.Join(stageNames(), ", ")+" (default all)")
	fs.StringVar(&from, "from", replay.Earliest, `where to restart: "earliest" or an RFC 3339 time`)
	fs.DurationVar(&retention, "retention", 0, "retention of the new generation (default: the members' --retention)")
	fs.DurationVar(&grace, "grace", 0, "grace of the new generation (default: the members' --grace)")
	fs.BoolVar(&dryRun, "dry-run", false, "print exactly what would be reset, and change nothing")
	return cmd
}
