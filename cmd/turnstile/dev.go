package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/turnstile-streams/turnstile/broker"
)

func newDevCmd(a *app) *cobra.Command {
	var (
		bf      brokerFlags
		dataDir string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole pipeline in one process on embedded services (make run)",
		Long: `Starts the embedded Kafka broker and Schema Registry in one process, persistent
under --data-dir, and prints what to do next. Ctrl-C shuts down cleanly; a
second run resumes from the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := bf.config(a, dataDir)
			if err != nil {
				return err
			}
			b, err := broker.Start(ctx, cfg)
			if err != nil {
				return err
			}
			defer b.Close()
			fmt.Fprintf(a.stdout, "turnstile dev: broker %s (data in %s)\n", b.Addr(), dataDir)
			<-ctx.Done()
			fmt.Fprintln(a.stdout, "turnstile dev: shutting down")
			return nil
		},
	}
	bf.register(cmd.Flags())
	cmd.Flags().StringVar(&dataDir, "data-dir", "./data", "data directory: broker in <data-dir>/kafka, state in <data-dir>/state")
	return cmd
}
