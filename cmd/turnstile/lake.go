package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/schemas"
)

// defaultLakeDir is --lake-dir's default (lake, dev).
const defaultLakeDir = "./lake"

func newLakeCmd(a *app) *cobra.Command {
	var (
		cf           clientFlags
		lakeDir      string
		csvIndex     bool
		group        string
		deviceTopic  string
		stationTopic string
		csvOn        bool
		parquetOn    bool
		flush        datalake.Config
		zone         string
	)
	cmd := &cobra.Command{
		Use:   "lake",
		Short: "Write the closed windows to the data lake (CSV.gz and Parquet, exactly once)",
		Long: `Runs one member of the lake-writer consumer group: reads the device and station
window topics and writes them under --lake-dir as

  device-windows/dt=YYYY-MM-DD/part-<topic>-<partition>-<first>-<last>.{csv.gz,parquet}
  station-windows/dt=YYYY-MM-DD/...

partitioned by the window end's local date in --time-zone. CSV.gz has the warehouse's layout (pandas
to_csv with its index column); Parquet has typed columns with START, END,
REVISION, GENERATION and EMITTED_AT. Each file appears atomically, and each
record lands in exactly one file: a batch is staged under
<dataset>/_staging/, committed by its checkpoint (<dataset>/_checkpoints),
then published, so readers see committed files only; the group's offsets
are committed after. Records that can never decode go to <dataset>/_rejected/.

--lake-dir is a directory or a URL: file:///path, mem://, gs://bucket/prefix
(Google application default credentials; STORAGE_EMULATOR_HOST for an
emulator) and s3://bucket/prefix (AWS credentials from the environment),
with endpoint, region and path style for MinIO and other S3-compatible stores:

  s3://turnstile-lake/lake?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true

Ctrl-C flushes what is buffered, commits and exits. Corrections (later
revisions) land in later files; run "turnstile lake compact" to rewrite date
partitions with one row per window.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cc, err := cf.resolve(a, cmd)
			if err != nil {
				return err
			}
			kopts, err := cc.KgoOpts()
			if err != nil {
				return err
			}
			store, err := datalake.Open(ctx, lakeDir)
			if err != nil {
				return err
			}
			defer store.Close()
			cfg := flush
			if cfg.TimeZone, err = loadTimeZone(zone); err != nil {
				return err
			}
			cfg.KafkaOpts = append([]kgo.Opt(nil), kopts...)
			cfg.Registry = cc.SRClient()
			cfg.Group, cfg.DeviceTopic, cfg.StationTopic = group, deviceTopic, stationTopic
			cfg.Store = store
			cfg.Format = datalake.Format{NoCSV: !csvOn, NoParquet: !parquetOn, NoCSVIndex: !csvIndex}
			cfg.Logger = a.log
			w, err := datalake.New(cfg)
			if err != nil {
				return err
			}
			a.log.Info("lake-writer starting", "lake", store.Location(), "group", cfg.Group, "topics", []string{cfg.DeviceTopic, cfg.StationTopic},
				"csv", csvOn, "parquet", parquetOn, "flush_interval", cfg.FlushInterval, "flush_records", cfg.FlushRecords)
			return w.Run(ctx)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&lakeDir, "lake-dir", defaultLakeDir, "lake location: a directory, or a URL (file:///path, mem://, s3://bucket/prefix, gs://bucket/prefix)")
	pf.BoolVar(&csvIndex, "csv-index", true, "write the leading unnamed row-index column in CSV files (as pandas does)")
	fs := cmd.Flags()
	cf.register(fs, usesKafka|usesRegistry)
	fs.StringVar(&group, "group", datalake.DefaultGroup, "consumer group of the lake-writers")
	fs.StringVar(&deviceTopic, "device-topic", schemas.DefaultDeviceWindowsTopic, "topic of closed device windows (Avro TurnstileWindow)")
	fs.StringVar(&stationTopic, "station-topic", schemas.DefaultStationWindowsTopic, "topic of closed station windows (Avro StationWindow)")
	var d datalake.Config
	d.Defaults()
	registerTimeZone(fs, &zone, d.TimeZone, "time zone of the date partitions (dt=) and of the station windows' DATE and TIME, an IANA name (the pipeline's --time-zone)")
	fs.BoolVar(&csvOn, "csv", true, "write CSV.gz files")
	fs.BoolVar(&parquetOn, "parquet", true, "write Parquet files")
	fs.DurationVar(&flush.FlushInterval, "flush-interval", datalake.DefaultFlushInterval, "write buffered records once the oldest has waited this long")
	fs.IntVar(&flush.FlushRecords, "flush-records", datalake.DefaultFlushRecords, "write when this many records are buffered (also the largest batch)")
	fs.Int64Var(&flush.FlushBytes, "flush-bytes", datalake.DefaultFlushBytes, "write when the buffered record keys and values reach this many bytes")

	cmd.AddCommand(newLakeCompactCmd(a, &lakeDir, &csvIndex))
	return cmd
}

func newLakeCompactCmd(a *app, lakeDir *string, csvIndex *bool) *cobra.Command {
	var (
		dates    []string
		datasets []string
	)
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Rewrite date partitions of the lake with one row per window (the newest revision)",
		Long: `Rewrites each date partition (every one that needs it, or only --dt) into one
compacted-<hash> file per format, keeping the highest GENERATION, then
REVISION, of every window, and deletes the files it replaced. Safe to re-run
and to run while lake-writers run (only committed files are compacted);
a run interrupted by a crash is finished or undone by the next run. Do not
run two compactions of the same lake at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, err := datalake.Open(ctx, *lakeDir)
			if err != nil {
				return err
			}
			defer store.Close()
			cfg := datalake.CompactConfig{Store: store, Dates: dates, Format: datalake.Format{NoCSVIndex: !*csvIndex}, Logger: a.log}
			for _, d := range datasets {
				cfg.Datasets = append(cfg.Datasets, datalake.Dataset(d))
			}
			start := time.Now()
			res, err := datalake.Compact(ctx, cfg)
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "DATASET\tDATE\tINPUTS\tOUTPUTS\tROWS\tRECOVERED")
			for _, r := range res {
				var outs, rows []string
				for i, o := range r.Outputs {
					outs = append(outs, o[strings.LastIndex(o, "/")+1:])
					rows = append(rows, fmt.Sprint(r.OutputRows[i]))
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Dataset, r.Date, len(r.Inputs), strings.Join(outs, ","), strings.Join(rows, ","), strings.Join(r.Recovered, "; "))
			}
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			a.log.Info("compaction done", "lake", store.Location(), "partitions", len(res), "elapsed", time.Since(start).Round(time.Millisecond))
			return err
		},
	}
	cmd.Flags().StringSliceVar(&dates, "dt", nil, "date partition to compact, YYYY-MM-DD (repeatable; default: every partition that needs it)")
	cmd.Flags().StringSliceVar(&datasets, "dataset", nil, "dataset to compact: device-windows, station-windows (default: both)")
	return cmd
}
