package main

import (
	"github.com/spf13/cobra"

	"github.com/turnstile-streams/turnstile/processors"
)

func newProcessCmd(a *app) *cobra.Command {
	var (
		cf      clientFlags
		pf      pipelineFlags
		topics  topicFlags
		dataDir string
	)
	cmd := &cobra.Command{
		Use:   "process",
		Short: "Run one member of the processing groups (ingest, device windows, station windows)",
		Long: `Runs one member of every processing group (or only --groups). Start more
members, on this machine or others, to share the partitions: up to
--partitions members get work; more stand by.

Creates the pipeline's topics if they are missing, with --partitions
partitions and compacted changelogs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := cf.resolve(a, cmd)
			if err != nil {
				return err
			}
			cfg, err := pf.config(a, cc, topics.t, dataDir)
			if err != nil {
				return err
			}
			m, err := processors.NewMetrics(nil)
			if err != nil {
				return err
			}
			p, err := processors.New(cfg, m)
			if err != nil {
				return err
			}
			return p.Run(cmd.Context())
		},
	}
	cf.register(cmd.Flags())
	pf.register(cmd.Flags(), 0)
	topics.register(cmd.Flags())
	cmd.Flags().StringVar(&dataDir, "data-dir", "./data", "data directory (table state in <data-dir>/state)")
	return cmd
}
