package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/status"
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
			ctx := cmd.Context()
			// First: on a terminal it re-routes the logger everything
			// below is given, and it must close last.
			term, err := a.startLive(hf, dataDir)
			if err != nil {
				return err
			}
			defer term.close()
			bcfg, err := bf.config(a, dataDir)
			if err != nil {
				return err
			}
			b, err := broker.Start(ctx, bcfg)
			if err != nil {
				return err
			}
			defer b.Close()
			cc := clientconf.Config{Brokers: []string{b.Addr()}, Compression: codec}
			kopts, err := cc.KgoOpts()
			if err != nil {
				return err
			}
			sr, err := registry.Start(ctx, registry.Config{Addr: rf.addr, KafkaOpts: kopts, Topic: rf.topic,
				Username: rf.authUser, Password: rf.authPassword, Logger: a.log})
			if err != nil {
				return err
			}
			defer func() {
				cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = sr.Close(cctx)
			}()
			cc.RegistryURL, cc.RegistryUsername, cc.RegistryPassword = sr.URL(), rf.authUser, rf.authPassword
			if _, err := schemas.Register(ctx, schemas.RegisterConfig{
				Registry: schemas.RegistryConfig{URL: cc.RegistryURL, HTTPClient: cc.RegistryHTTPClient()},
				Topics:   topics.schemaTopics()}); err != nil {
				return err
			}

			var wg sync.WaitGroup
			defer wg.Wait()
			ctx, stop := context.WithCancel(ctx)
			defer stop()
			fail := make(chan error, members+1)
			reg := newRegistry()
			var (
				metrics []*processors.Metrics
				urls    []string
				scfg    status.Config
			)
			admCl, err := kgo.NewClient(kopts...)
			if err != nil {
				return err
			}
			defer admCl.Close()
			adm := kadm.NewClient(admCl)
			for i := 0; i < members; i++ {
				pcfg, err := pf.config(a, cc, topics.t, dataDir)
				if err != nil {
					return err
				}
				// Members in one process need their own local state.
				pcfg.State.Dir = filepath.Join(pcfg.State.Dir, fmt.Sprintf("member-%d", i))
				pcfg.Logger = a.log.With("member", i)
				// One registry for the process; members are told apart by a label.
				m, err := processors.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"member": strconv.Itoa(i)}, reg))
				if err != nil {
					return err
				}
				metrics = append(metrics, m)
				p, err := processors.New(pcfg, m)
				if err != nil {
					return err
				}
				if i == 0 {
					lakeGroup := ""
					if lakeOn {
						lakeGroup = datalake.DefaultGroup
					}
					scfg = status.ForPipeline(pcfg, lakeGroup)
					reg.MustRegister(status.NewCollector(adm, scfg, 0))
				}
				if hf.addr != "" {
					// The first member serves on --http-addr, the others on
					// free ports of the same host.
					addr := hf.addr
					if i > 0 {
						host, _, _ := net.SplitHostPort(hf.addr)
						addr = net.JoinHostPort(host, "0")
					}
					ln, url, err := listenHTTP(addr, "", p)
					if err != nil {
						return err
					}
					dash, err := hf.dashboard(a, pcfg, m, p, adm, scfg, url,
						prometheus.WrapRegistererWith(prometheus.Labels{"member": strconv.Itoa(i)}, reg))
					if err != nil {
						return err
					}
					srv := serveHTTP(ctx, a, ln, url, reg, p, dash)
					wg.Add(1)
					go func() { defer wg.Done(); <-srv.done }()
					urls = append(urls, url)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := p.Run(ctx); err != nil {
						fail <- fmt.Errorf("member %d: %w", i, err)
					}
				}()
			}
			var lakeFiles func() int64
			if lakeOn {
				store, err := datalake.Open(ctx, lakeDir)
				if err != nil {
					return err
				}
				w, err := datalake.New(datalake.Config{KafkaOpts: kopts, Registry: cc.SRClient(), Store: store,
					DeviceTopic: topics.t.DeviceWindows, StationTopic: topics.t.StationWindows,
					FlushInterval: flushIv, Logger: a.log.With("component", "lake")})
				if err != nil {
					store.Close()
					return err
				}
				lakeFiles = func() int64 { return w.Stats().Files }
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer store.Close() // after Run's final flush: a bucket refuses writes once closed
					if err := w.Run(ctx); err != nil && ctx.Err() == nil {
						fail <- fmt.Errorf("lake-writer: %w", err)
					}
				}()
			}
			if produce {
				prcfg, err := prf.config(topics.t.Input, cc)
				if err != nil {
					return err
				}
				prcfg.Logger = a.log.With("component", "producer")
				prcfg.Progress = producer.ProgressOff
				// The members create the topics too; whoever is first.
				prcfg.Prepare = func(ctx context.Context, cl *kgo.Client) error {
					return ensureTopic(ctx, a, cl, pf.pipeline(topics.t), topics.t.Input)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := producer.Run(ctx, prcfg); err != nil && ctx.Err() == nil {
						fail <- fmt.Errorf("producer: %w", err)
					}
				}()
			}
			fmt.Fprintf(a.stdout, `turnstile dev is running (Ctrl-C to stop)
%s  Kafka broker     %s   (data in %s)
  Schema Registry  %s
  Processors       %d member(s), %d partitions, %v windows, input %s
  Producer         %s
  Lake             %s (CSV.gz and Parquet, flushed every %v)
  HTTP             %s
Try from another shell:
  curl %s/subjects
  bin/turnstile schemas list
  bin/turnstile status
  bin/turnstile produce --source csv --file ../shared/data/mta/240106.csv.gz --limit 10000
    (a week of 2024: beside the live synthetic stream it is older than retention and goes to
     mta-turnstile-late; to window it, run dev --produce=false on a fresh --data-dir)
%s`, dashboardLine(urls), b.Addr(), dataDir, sr.URL(), members, pf.partitions, pf.window, topics.t.Input, producerLine(produce, prf), lakeDir, flushIv,
				httpLine(urls), sr.URL(), httpTry(urls))
			if !hf.quiet {
				live := &status.Live{Out: a.stdout, Show: term.show(), Interval: hf.statusInterval, Admin: adm, Config: scfg, LakeFiles: lakeFiles,
					Metrics: func() processors.Snapshot {
						var s processors.Snapshot
						for _, m := range metrics {
							s = s.Add(m.Snapshot())
						}
						return s
					}}
				wg.Add(1)
				go func() { defer wg.Done(); _ = live.Run(ctx) }()
			}
			select {
			case <-ctx.Done():
				fmt.Fprintln(a.stdout, "turnstile dev: shutting down")
				return nil
			case err := <-fail:
				stop()
				return err
			}
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

func producerLine(on bool, p produceFlags) string {
	if !on {
		return "off (--produce=false): produce to the input topic yourself"
	}
	return fmt.Sprintf("synthetic, %gx event time, a reading per turnstile every %v", p.speed, p.interval)
}

// dashboardLine is the first thing to open: the first member's dashboard.
func dashboardLine(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	return fmt.Sprintf("  Dashboard        %s/   (open it in a browser: live station windows and pipeline health)\n", urls[0])
}

func httpLine(urls []string) string {
	if len(urls) == 0 {
		return "off (--http-addr \"\")"
	}
	return strings.Join(urls, ", ") + " (/ dashboard, /events, /metrics, /readyz, /monitor/, window queries)"
}

func httpTry(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	return fmt.Sprintf("  curl -N '%s/events?kind=station'   (the windows as they are published, Server-Sent Events)\n  curl %s/metrics\n  curl -L %s/stations/<STATION>/windows\n", urls[0], urls[0], urls[0])
}
