package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/devstack"
	"github.com/turnstile-streams/turnstile/registry"
)

func newDevCmd(a *app) *cobra.Command {
	var (
		bf      brokerFlags
		rf      registryFlags
		pf      pipelineFlags
		hf      httpFlags
		prf     produceFlags
		topics  topicFlags
		dataDir string
		lakeDir string
		flushIv time.Duration
		members int
		produce bool
		lakeOn  bool
		codec   string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole pipeline in one process on embedded services (make run)",
		Long: `Starts, in one process: the embedded Kafka broker and Schema Registry
(persistent under --data-dir), the schemas, the topics, --members processor
members and a synthetic producer (unless --produce=false, when outside
producers feed --input-topic). Any Kafka client can use the broker and
registry meanwhile. Ctrl-C shuts down cleanly; a second run resumes from the
data directory.

The demo stream runs event time 60x faster than the wall clock, one reading
per turnstile per minute of event time, so 5-minute windows close within
seconds.

On a terminal, the status (rates, lag, watermarks, windows, dead-lettered,
too late, lake files) is one view redrawn in place every --status-interval,
with warnings and errors above it; every log record goes to --log-file
(<data-dir>/turnstile.log), and a line every --log-summary-interval counts
them. Elsewhere (a pipe, a file, --quiet) the logs go to stderr as usual.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// First: on a terminal it re-routes the logger and stdout
			// everything below is given, and it must close last.
			term, err := a.startLive(hf, dataDir)
			if err != nil {
				return err
			}
			defer term.close()
			bcfg, err := bf.config(a, dataDir)
			if err != nil {
				return err
			}
			pipe, err := pf.settings(topics.t, dataDir)
			if err != nil {
				return err
			}
			prcfg, err := prf.settings()
			if err != nil {
				return err
			}
			prcfg.CSV.TimeZone = pipe.TimeZone // one --time-zone for the whole stack
			return devstack.Run(cmd.Context(), devstack.Config{
				DataDir: dataDir, Broker: bcfg, Compression: codec,
				Registry: registry.Config{Addr: rf.addr, Topic: rf.topic, Username: rf.authUser, Password: rf.authPassword},
				Pipeline: pipe, Members: members,
				HTTPAddr: hf.addr, DashboardMaxClients: hf.dashClients,
				NoLake: !lakeOn, LakeDir: lakeDir, Lake: datalake.Config{FlushInterval: flushIv, TimeZone: pipe.TimeZone},
				NoProducer: !produce, Producer: prcfg,
				Quiet: hf.quiet, StatusInterval: hf.statusInterval, ShowStatus: term.show(),
				Stdout: a.stdout, Logger: a.log,
			})
		},
	}
	fs := cmd.Flags()
	bf.register(fs)
	rf.register(fs)
	pf.register(fs)
	hf.register(fs)
	topics.register(fs)
	prf.register(fs, "produce-")
	fs.StringVar(&dataDir, "data-dir", defaultDataDir, "data directory: broker in <data-dir>/kafka, table state in <data-dir>/state")
	fs.IntVar(&members, "members", 1, "processor members to run (each gets its share of the partitions)")
	fs.StringVar(&lakeDir, "lake-dir", defaultLakeDir, "where the lake-writer writes (a directory or a URL, see turnstile lake --help)")
	fs.DurationVar(&flushIv, "lake-flush-interval", 10*time.Second, "how often the lake-writer writes files")
	fs.BoolVar(&lakeOn, "lake", true, "run the lake-writer")
	fs.BoolVar(&produce, "produce", true, "run the synthetic producer (false: outside producers feed the input topic)")
	registerCompression(fs, &codec)
	// Demo defaults: fast event time, small state.
	_ = fs.Set("retention", "1h")
	_ = fs.Set("produce-speed", "60")
	_ = fs.Set("produce-interval", "1m")
	_ = fs.Set("produce-max-booths", "100")
	for _, name := range []string{"retention", "produce-speed", "produce-interval", "produce-max-booths"} {
		f := fs.Lookup(name)
		f.DefValue, f.Changed = f.Value.String(), false
	}
	return cmd
}
