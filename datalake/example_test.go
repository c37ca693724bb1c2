package datalake_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Example runs the lake-writer against an embedded broker and registry:
// three device windows (the third a correction of the first) and a station
// window are written as CSV.gz and Parquet when the context ends, and
// compaction then leaves one row per window.
func Example() {
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	reg, err := registry.Start(ctx, registry.Config{Addr: "127.0.0.1:0", KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())}})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close(ctx)
	sr := srclient.CreateSchemaRegistryClient(reg.URL())

	// The sink topics and what the emitter would have published to them.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	topics := schemas.DefaultTopics()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 1, 1, nil, topics.DeviceWindows, topics.StationWindows); err != nil {
		log.Fatal(err)
	}
	devCodec, _ := codecs.NewDeviceWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(topics.DeviceWindows)})
	stCodec, _ := codecs.NewStationWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(topics.StationWindows)})
	start := time.Date(2024, 1, 6, 12, 0, 0, 0, time.UTC)
	window := func(scp string, entries int64, rev int32) schemas.DeviceWindow {
		w := schemas.DeviceWindow{CA: "A002", Unit: "R051", SCP: scp, Station: "59 ST", LineName: "NQR456W", Division: "BMT",
			Desc: "REGULAR", Entries: entries, Exits: entries / 2, Revision: rev, EmittedAt: start.Add(5 * time.Hour)}
		w.SetWindow(start, start.Add(4*time.Hour), schemas.DefaultLocation()) // DATE and TIME in New York, as the pipeline writes them
		return w
	}
	for _, w := range []schemas.DeviceWindow{window("02-00-00", 120, 1), window("02-00-01", 80, 1), window("02-00-00", 125, 2)} {
		v, _ := devCodec.Marshal(&w)
		cl.Produce(ctx, &kgo.Record{Topic: topics.DeviceWindows, Value: v}, nil)
	}
	st := schemas.StationWindow{Station: "59 ST", LineName: "NQR456W", Division: "BMT", Start: start, End: start.Add(4 * time.Hour),
		Entries: 205, Exits: 102, Devices: 2, Revision: 1, EmittedAt: start.Add(5 * time.Hour)}
	v, _ := stCodec.Marshal(&st)
	cl.Produce(ctx, &kgo.Record{Topic: topics.StationWindows, Value: v}, nil)
	if err := cl.Flush(ctx); err != nil {
		log.Fatal(err)
	}

	// The lake-writer: run until every record is consumed, then cancel,
	// which flushes and commits.
	dir, _ := os.MkdirTemp("", "lake-example")
	defer os.RemoveAll(dir)
	store, err := datalake.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	w, err := datalake.New(datalake.Config{KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())}, Registry: sr, Store: store, FlushInterval: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- w.Run(runCtx) }()
	for w.Stats().Records < 4 {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	printFiles(dir)

	res, err := datalake.Compact(ctx, datalake.CompactConfig{Store: store})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Printf("compacted %s dt=%s: %d files into %d rows per format\n", r.Dataset, r.Date, len(r.Inputs), r.OutputRows[0])
	}
	// Output:
	// device-windows/_checkpoints/mta-turnstile-windows-0.json
	// device-windows/dt=2024-01-06/part-mta-turnstile-windows-0-00000000000000000000-00000000000000000002.csv.gz
	// device-windows/dt=2024-01-06/part-mta-turnstile-windows-0-00000000000000000000-00000000000000000002.parquet
	// station-windows/_checkpoints/mta-station-windows-0.json
	// station-windows/dt=2024-01-06/part-mta-station-windows-0-00000000000000000000-00000000000000000000.csv.gz
	// station-windows/dt=2024-01-06/part-mta-station-windows-0-00000000000000000000-00000000000000000000.parquet
	// compacted device-windows dt=2024-01-06: 2 files into 2 rows per format
	// compacted station-windows dt=2024-01-06: 2 files into 1 rows per format
}

func printFiles(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			fmt.Println(filepath.ToSlash(rel))
		}
		return err
	})
}
