package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
)

// produceFlags configure the producer (turnstile produce, turnstile dev).
type produceFlags struct {
	source, file, order, counters, progress string
	schemaVersion                           int
	speed, rate                             float64
	limit, seed                             int64
	lateFraction, dupFraction, badFraction  float64
	lateBy, interval, duration              time.Duration
	devicesPerBooth, maxBooths              int
	start                                   string
	resume, declareEnd                      bool
}

func (p *produceFlags) register(fs *pflag.FlagSet, prefix string) {
	n := func(s string) string { return prefix + s }
	// The defaults are the producer's (a zero producer.Config's), but
	// --late-by's, --seed's and, for dev, the demo's.
	var d producer.Config
	d.Defaults()
	fs.StringVar(&p.source, n("source"), string(d.Source), "synthetic (live stream from the station reference) or csv (an MTA weekly file)")
	fs.StringVar(&p.file, n("file"), "", "MTA weekly file for --source csv (.csv or .csv.gz)")
	fs.StringVar(&p.order, n("order"), string(d.CSV.Order), "csv order: event (event time), file (file order), arrival (event time, RECOVR AUD delayed), shuffle (random, repeatable with --seed)")
	fs.StringVar(&p.counters, n("counters"), string(d.Synthetic.Counters), "synthetic counters: cumulative registers or increment (the original demo's 5..10 per reading)")
	fs.IntVar(&p.schemaVersion, n("schema-version"), d.SchemaVersion, "TurnstileReading version to write (1 or 2)")
	fs.Float64Var(&p.speed, n("speed"), 0, "event time per wall time (0: source default, <0: as fast as possible)")
	fs.Float64Var(&p.rate, n("rate"), 0, "records per second at most (0: unlimited)")
	fs.Int64Var(&p.limit, n("limit"), 0, "stop after this many records (0: no limit)")
	fs.Int64Var(&p.seed, n("seed"), 1, "random seed: the same seed gives the same records")
	fs.Float64Var(&p.lateFraction, n("late-fraction"), 0, "fraction of readings held back and sent late")
	fs.DurationVar(&p.lateBy, n("late-by"), 30*time.Minute, "how late --late-fraction readings arrive (event time)")
	fs.Float64Var(&p.dupFraction, n("duplicate-fraction"), 0, "fraction of readings sent twice (same ID)")
	fs.Float64Var(&p.badFraction, n("bad-fraction"), 0, "fraction of malformed records to inject (for the dead-letter topic)")
	fs.DurationVar(&p.interval, n("interval"), 0, "synthetic: event time between two readings of a device (0: "+shortDuration(d.Synthetic.Interval)+", as MTA)")
	fs.DurationVar(&p.duration, n("duration"), 0, "synthetic: event time to produce (0: unbounded)")
	fs.IntVar(&p.devicesPerBooth, n("devices-per-booth"), 0, "synthetic: turnstiles per booth (0: default)")
	fs.IntVar(&p.maxBooths, n("max-booths"), 0, "synthetic: use only this many booths of the station reference (0: all)")
	fs.StringVar(&p.start, n("start"), "", "synthetic: first event time, RFC3339 (default: now, or a week back when --speed > 1)")
	fs.StringVar(&p.progress, n("progress"), string(d.Progress), "progress bar: auto (on a terminal), on, off")
	fs.BoolVar(&p.declareEnd, n("declare-end"), true, "when the input ends (a file, --limit, --duration) and all of it was delivered, declare its end in the consumer group "+schemas.InputEndGroup+": the pipeline closes the last windows as soon as it has read it, instead of after its --idle-timeout")
	fs.BoolVar(&p.resume, n("resume"), d.Resume, "synthetic: continue after what the topic holds: start after its newest event time, each turnstile from its last registers (dev: on, so a restarted demo is not behind its own state)")
}

// config is the producer configuration the flags give, producing to
// topic through cc.
func (p *produceFlags) config(topic string, cc clientconf.Config) (producer.Config, error) {
	cfg, err := p.settings()
	if err != nil {
		return cfg, err
	}
	opts, err := cc.KgoOpts()
	if err != nil {
		return cfg, err
	}
	cfg.Topic, cfg.KafkaOpts = topic, opts
	cfg.RegistryURL, cfg.RegistryClient = cc.RegistryURL, cc.SRClient()
	return cfg, nil
}

// settings is the producer configuration the flags give, without a topic
// or a connection (turnstile dev's producer gets them from package
// devstack).
func (p *produceFlags) settings() (producer.Config, error) {
	cfg := producer.Config{
		Source: producer.SourceKind(p.source), SchemaVersion: p.schemaVersion,
		Speed: p.speed, Rate: p.rate, Limit: p.limit, Seed: p.seed,
		LateFraction: p.lateFraction, LateBy: p.lateBy, DuplicateFraction: p.dupFraction, BadFraction: p.badFraction,
		Synthetic: producer.SyntheticConfig{Interval: p.interval, Duration: p.duration, DevicesPerBooth: p.devicesPerBooth,
			MaxBooths: p.maxBooths, Counters: producer.CounterMode(p.counters)},
		CSV:      producer.CSVConfig{Path: p.file, Order: producer.Order(p.order)},
		Progress: producer.ProgressMode(p.progress),
		Resume:   p.resume,
	}
	if p.declareEnd {
		cfg.EndGroup = schemas.InputEndGroup
	}
	if p.start != "" {
		t, err := time.Parse(time.RFC3339, p.start)
		if err != nil {
			return cfg, fmt.Errorf("--start: %w", err)
		}
		cfg.Synthetic.Start = t
	}
	return cfg, nil
}

func newProduceCmd(a *app) *cobra.Command {
	var (
		cf     clientFlags
		pf     produceFlags
		topics topicFlags
		layout layoutFlags
		zone   string
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce turnstile readings (synthetic live stream or an MTA file replay)",
		Long: `Produces Avro TurnstileReading records in the Confluent wire format, keyed by
device (CA|UNIT|SCP) and partitioned like goka, to --input-topic.

  --source synthetic   a live stream: devices from the station reference, one
                       reading per device per --interval, cumulative counters
  --source csv --file F  replays a real MTA weekly file, in event-time order
                       by default (--order file keeps the file's order)

Late, duplicate and malformed readings can be injected for testing. The same
--seed gives the same records.

A missing --input-topic is created first, as turnstile process would create
it (--partitions, --replication); a user who may not create topics gets, within
10 s, the command that creates it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := cf.resolve(a, cmd)
			if err != nil {
				return err
			}
			cfg, err := pf.config(topics.t.Input, cc)
			if err != nil {
				return err
			}
			if cfg.CSV.TimeZone, err = loadTimeZone(zone); err != nil {
				return err
			}
			cfg.Logger = a.log
			cfg.ProgressWriter = a.stderr
			cfg.Prepare = func(ctx context.Context, cl *kgo.Client) error {
				return ensureTopic(ctx, a, cl, layout.pipeline(topics.t), topics.t.Input)
			}
			sum, err := producer.Run(cmd.Context(), cfg)
			fmt.Fprintf(a.stdout, "sent %d records (%d bytes), failed %d, in %s", sum.Sent, sum.Bytes, sum.Failed, sum.Elapsed.Round(time.Millisecond))
			if len(sum.Injected) > 0 {
				fmt.Fprintf(a.stdout, ", injected %v", sum.Injected)
			}
			fmt.Fprintln(a.stdout)
			return err
		},
	}
	cf.register(cmd.Flags(), usesKafka|usesRegistry|usesProduce)
	pf.register(cmd.Flags(), "")
	var d producer.Config
	d.Defaults()
	registerTimeZone(cmd.Flags(), &zone, d.CSV.TimeZone, "time zone of the CSV file's DATE and TIME, an IANA name: each reading's event time is the instant they stand for there (a repeated hour is told apart per device in file order, a skipped hour is read with the offset before the transition)")
	topics.register(cmd.Flags(), flagInputTopic)
	layout.register(cmd.Flags())
	cmd.Flags().Lookup("partitions").Usage = "partitions of the input topic if it is missing and produce creates it (as the pipeline would: use the members' --partitions)"
	cmd.Flags().Lookup("replication").Usage = "replication factor of the input topic if produce creates it"
	return cmd
}
