package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/status"
)

func newProcessCmd(a *app) *cobra.Command {
	var pc processCmd
	cmd := &cobra.Command{
		Use:   "process",
		Short: "Run one member of the processing groups (ingest, the windowed stage)",
		Long: `Runs one member of every processing group (or only --groups). Start more
members, on this machine or others, to share the partitions: up to
--partitions members get work; more stand by.

Creates the pipeline's topics if they are missing, with --partitions
partitions and compacted changelogs.

Serves HTTP on --http-addr: the live dashboard on / (with the window
events as Server-Sent Events on /events), Prometheus /metrics, /healthz, /readyz, goka's
monitor on /monitor/, and window queries (GET /devices/{ca}/{unit}/{scp}/windows,
GET /stations/{station}/windows) answered by the member that owns the key;
other members redirect to it. Prints a live status every --status-interval
unless --quiet: on a terminal one status view redrawn in place, with
warnings and errors above it and every log record in --log-file; elsewhere
a status block each time, and the logs on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return pc.run(a, cmd) },
	}
	pc.cf.register(cmd.Flags(), usesKafka|usesRegistry|usesProduce)
	pc.pf.register(cmd.Flags())
	pc.pf.registerMemory(cmd.Flags())
	pc.hf.register(cmd.Flags())
	pc.topics.register(cmd.Flags())
	cmd.Flags().StringVar(&pc.dataDir, "data-dir", defaultDataDir, "data directory (table state in <data-dir>/state)")
	return cmd
}

// processCmd is turnstile process's flags.
type processCmd struct {
	cf      clientFlags
	pf      pipelineFlags
	hf      httpFlags
	topics  topicFlags
	dataDir string
}

// run builds the member from the flags and runs it, with its HTTP server
// and live status, until the command's context ends.
func (pc *processCmd) run(a *app, cmd *cobra.Command) error {
	// Before anything joins a group: a member that cannot keep its
	// tables would fail in every partition it is given.
	if err := pc.pf.checkStateDir(pc.dataDir); err != nil {
		return err
	}
	// Then: on a terminal it re-routes the logger everything
	// below is given, and it must close last.
	term, err := a.startLive(pc.hf, pc.dataDir)
	if err != nil {
		return err
	}
	defer term.close()
	cc, err := pc.cf.resolve(a, cmd)
	if err != nil {
		return err
	}
	if err := pc.pf.applyMemoryLimit(a); err != nil {
		return err
	}
	cfg, err := pc.pf.config(a, cc, pc.topics.t, pc.dataDir)
	if err != nil {
		return err
	}
	reg := newRegistry()
	m, err := processors.NewMetrics(reg)
	if err != nil {
		return err
	}
	p, err := processors.New(cfg, m)
	if err != nil {
		return err
	}
	admCl, err := kgo.NewClient(cfg.KafkaOpts...)
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	scfg := status.ForPipeline(cfg, "")
	reg.MustRegister(status.NewCollector(adm, scfg, 0))

	ctx, stop := context.WithCancel(cmd.Context())
	defer stop()
	if pc.hf.addr != "" {
		ln, url, err := listenHTTP(pc.hf.addr, pc.hf.advertise, p)
		if err != nil {
			return err
		}
		dash, err := pc.hf.dashboard(a, cfg, m, p, adm, scfg, url, reg)
		if err != nil {
			return err
		}
		srv := serveHTTP(ctx, a, ln, url, reg, p, dash)
		defer func() { stop(); <-srv.done }()
		a.log.Info("http server", "addr", ln.Addr().String(), "advertised", url, "dashboard", url+"/")
	}
	if !pc.hf.quiet {
		live := &status.Live{Out: a.stdout, Show: term.show(), Interval: pc.hf.statusInterval, Metrics: m.Snapshot, Admin: adm, Config: scfg}
		done := make(chan struct{})
		go func() { defer close(done); _ = live.Run(ctx) }()
		defer func() { stop(); <-done }()
	}
	return p.Run(ctx)
}
