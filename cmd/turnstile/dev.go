package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/devstack"
	"github.com/turnstile-streams/turnstile/registry"
)

func newDevCmd(a *app) *cobra.Command {
	var d devCmd
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole pipeline in one process on embedded services (make run)",
		Long: `Starts, in one process: the embedded Kafka broker and Schema Registry
(persistent under --data-dir), the schemas, the topics, --members processor
members and a synthetic producer (unless --produce=false, when outside
producers feed --input-topic). Any Kafka client can use the broker and
registry meanwhile. Ctrl-C shuts down cleanly; a second run resumes from the
data directory.

The broker and registry listen where --brokers and --registry-url point,
the same flags (and TURNSTILE_BROKERS, TURNSTILE_REGISTRY_URL) every client
command connects with, so one set of variables moves every port.

The demo stream runs event time 60x faster than the wall clock, one reading
per turnstile per minute of event time, so 5-minute windows close within
seconds. Its turnstiles count the real ridership of their booths, by New
York hour, weekday or weekend (calibrated from two MTA weeks), and it
continues after the newest reading already on the input topic
(--produce-resume), so a second run publishes new windows at once.

On a terminal, the status (rates, lag, watermarks, windows, dead-lettered,
too late, lake files) is one view redrawn in place every --status-interval,
with warnings and errors above it; every log record goes to --log-file
(<data-dir>/turnstile.log), and a line every --log-summary-interval counts
them. Elsewhere (a pipe, a file, --quiet) the logs go to stderr as usual.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return d.run(a, cmd) },
	}
	d.register(cmd.Flags())
	return cmd
}

// devCmd is turnstile dev's flags.
type devCmd struct {
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
	brokers []string
	// registryURL is where the registry listens.
	registryURL string
}

// run turns the flags into a devstack.Config and runs it.
func (d *devCmd) run(a *app, cmd *cobra.Command) error {
	kafkaAddr, registryAddr, err := devListen(cmd, d.brokers, d.registryURL, d.bf.kafkaAddr, d.rf.addr)
	if err != nil {
		return err
	}
	if d.members > 0 {
		if err := d.pf.checkStateDir(d.dataDir); err != nil {
			return err
		}
	}
	// Then: on a terminal it re-routes the logger and stdout
	// everything below is given, and it must close last.
	term, err := a.startLive(d.hf, d.dataDir)
	if err != nil {
		return err
	}
	defer term.close()
	bcfg, err := d.bf.config(a, d.dataDir)
	if err != nil {
		return err
	}
	bcfg.Addr = kafkaAddr
	pipe, err := d.pf.settings(d.topics.t, d.dataDir)
	if err != nil {
		return err
	}
	prcfg, err := d.prf.settings()
	if err != nil {
		return err
	}
	prcfg.CSV.TimeZone = pipe.TimeZone // one --time-zone for the whole stack
	return devstack.Run(cmd.Context(), devstack.Config{
		DataDir: d.dataDir, Broker: bcfg, Compression: d.codec,
		Registry: registry.Config{Addr: registryAddr, Topic: d.rf.topic, Username: d.rf.authUser, Password: d.rf.authPassword},
		Pipeline: pipe, Members: d.members,
		HTTPAddr: d.hf.addr, DashboardMaxClients: d.hf.dashClients,
		NoLake: !d.lakeOn, LakeDir: d.lakeDir, Lake: datalake.Config{FlushInterval: d.flushIv, TimeZone: pipe.TimeZone},
		NoProducer: !d.produce, Producer: prcfg,
		Quiet: d.hf.quiet, StatusInterval: d.hf.statusInterval, ShowStatus: term.show(),
		Stdout: a.stdout, Logger: a.log,
		Command: bannerCommand(), ExampleCSV: exampleCSV(),
	})
}

// register defines dev's flags on fs, with the demo's defaults.
func (d *devCmd) register(fs *pflag.FlagSet) {
	d.bf.register(fs)
	d.rf.register(fs)
	// Where the services listen is where the clients connect: the same
	// flags and TURNSTILE_* variables as every client command's.
	fs.StringSliceVar(&d.brokers, "brokers", []string{defaultKafkaAddr}, "where the embedded Kafka broker listens (one host:port), so also where every client command connects")
	fs.StringVar(&d.registryURL, "registry-url", "http://"+registryDefaults().Addr, "where the embedded Schema Registry listens (http://host:port), so also where every client command finds it")
	_ = fs.MarkDeprecated("kafka-addr", "use --brokers (TURNSTILE_BROKERS), which the client commands read too")
	_ = fs.MarkDeprecated("registry-addr", "use --registry-url (TURNSTILE_REGISTRY_URL), which the client commands read too")
	d.pf.register(fs)
	d.hf.register(fs)
	d.topics.register(fs)
	d.prf.register(fs, "produce-")
	fs.StringVar(&d.dataDir, "data-dir", defaultDataDir, "data directory: broker in <data-dir>/kafka, table state in <data-dir>/state")
	fs.IntVar(&d.members, "members", 1, "processor members to run (each gets its share of the partitions)")
	fs.StringVar(&d.lakeDir, "lake-dir", defaultLakeDir, "where the lake-writer writes (a directory or a URL, see turnstile lake --help)")
	fs.DurationVar(&d.flushIv, "lake-flush-interval", 10*time.Second, "how often the lake-writer writes files")
	fs.BoolVar(&d.lakeOn, "lake", true, "run the lake-writer")
	fs.BoolVar(&d.produce, "produce", true, "run the synthetic producer (false: outside producers feed the input topic)")
	registerCompression(fs, &d.codec)
	// Demo defaults: fast event time, small state.
	_ = fs.Set("retention", "1h")
	_ = fs.Set("produce-speed", "60")
	_ = fs.Set("produce-interval", "1m")
	_ = fs.Set("produce-max-booths", "100")
	_ = fs.Set("produce-resume", "true")
	for _, name := range []string{"retention", "produce-speed", "produce-interval", "produce-max-booths", "produce-resume"} {
		f := fs.Lookup(name)
		f.DefValue, f.Changed = f.Value.String(), false
	}
}

// devListen is where dev's broker and registry listen: where --brokers and
// --registry-url point (one host:port each, plain http), unless the
// deprecated --kafka-addr or --registry-addr is given.
func devListen(cmd *cobra.Command, brokers []string, registryURL, kafkaAddr, registryAddr string) (kafka, reg string, err error) {
	fs := cmd.Flags()
	kafka = kafkaAddr
	if !fs.Changed("kafka-addr") {
		if len(brokers) != 1 {
			return "", "", fmt.Errorf("--brokers: dev runs one broker: want one host:port, got %q", strings.Join(brokers, ","))
		}
		kafka = brokers[0]
		if _, _, err := net.SplitHostPort(kafka); err != nil {
			return "", "", fmt.Errorf("--brokers: want host:port: %w", err)
		}
	}
	reg = registryAddr
	if !fs.Changed("registry-addr") {
		u, err := url.Parse(registryURL)
		if err != nil || u.Scheme != "http" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return "", "", fmt.Errorf("--registry-url: dev serves the registry over plain HTTP: want http://host:port, got %q", registryURL)
		}
		reg = u.Host
	}
	return kafka, reg, nil
}

// bannerCommand is how the banner's examples run turnstile: as this
// process was started when that was a path relative to the working
// directory (make run starts ./bin/turnstile), else by name.
func bannerCommand() string {
	if p := os.Args[0]; !filepath.IsAbs(p) && strings.ContainsRune(p, filepath.Separator) {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "turnstile"
}

// exampleCSVPath is a real MTA excerpt shipped in the repository.
const exampleCSVPath = "producer/testdata/240106-excerpt.csv"

// exampleCSV is the MTA excerpt the banner suggests replaying, when it is
// where the banner's command would find it (the working directory is a
// checkout); "" otherwise.
func exampleCSV() string {
	if _, err := os.Stat(exampleCSVPath); err == nil {
		return exampleCSVPath
	}
	return ""
}
