package processors_test

import (
	"compress/gzip"
	"context"
	"encoding/csv"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/internal/reference"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
)

// mtaWeek is the real MTA week the shared data directory holds beside the
// checkout (CI has it; a bare clone does not).
const mtaWeek = "../../shared/data/mta/240106.csv.gz"

// readMTA parses the weekly file independently of the producer: columns
// ,CA,UNIT,SCP,STATION,LINENAME,DIVISION,DATE,TIME,DESC,ENTRIES,EXITS.
func readMTA(t *testing.T, path string) []reference.Reading {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(gz).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []reference.Reading
	for _, row := range rows[1:] {
		c := row[1:]
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		ts, err := time.Parse("01/02/2006 15:04:05", c[6]+" "+c[7])
		if err != nil {
			t.Fatalf("row %v: %v", row, err)
		}
		e, err1 := strconv.ParseInt(c[9], 10, 64)
		x, err2 := strconv.ParseInt(c[10], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("row %v", row)
		}
		out = append(out, reference.Reading{Device: c[0] + "|" + c[1] + "|" + c[2], Station: c[3], Line: c[4], Division: c[5],
			T: ts.UnixMilli(), Entries: e, Exits: x, ID: strings.Join(c, ","), Desc: c[8]})
	}
	return out
}

// TestMTAWeekInFileOrder replays the real week in file order (the file is
// sorted by device, so one device's whole week arrives after another's,
// and stream time runs far ahead of most readings) with a retention that
// covers the week: every reading is accepted, windows close early and are
// corrected, and the highest revision of every device and station window
// must equal the reference computed directly from the file.
func TestMTAWeekInFileOrder(t *testing.T) {
	if os.Getenv("TURNSTILE_MTA") == "" {
		t.Skip("set TURNSTILE_MTA=1 to replay the real MTA week (250,000 readings)")
	}
	if _, err := os.Stat(mtaWeek); err != nil {
		t.Skipf("no MTA data beside the checkout (%v)", err)
	}
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := s.config(t)
	cfg.Partitions = 6
	cfg.Retention = 9 * 24 * time.Hour
	cfg.IdleTimeout = 5 * time.Second
	runPipeline(t, ctx, cancel, cfg)

	topics := processors.DefaultTopics()
	start := time.Now()
	sum, err := producer.Run(ctx, producer.Config{Source: producer.SourceCSV, CSV: producer.CSVConfig{Path: mtaWeek, Order: producer.OrderFile},
		Topic: topics.Input, RegistryClient: s.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(s.brokers...)},
		Speed: -1, Progress: producer.ProgressOff, Logger: cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	readings := readMTA(t, mtaWeek)
	if sum.Sent != int64(len(readings)) {
		t.Fatalf("produced %d readings, the file has %d", sum.Sent, len(readings))
	}
	t.Logf("produced %d readings in %v", sum.Sent, time.Since(start).Round(time.Millisecond))

	params := reference.Params{SizeMs: 5 * 60_000, SlideMs: 5 * 60_000, Cumulative: true, MaxDelta: 10000}
	want := reference.Devices(params, readings)
	devCodec, _ := codecs.NewDeviceWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject(topics.DeviceWindows)})
	readSink(t, ctx, s, topics.DeviceWindows, func(b []byte) (schemas.DeviceWindow, int32, error) {
		w, err := devCodec.Unmarshal(b)
		return w, w.Revision, err
	}, func(m map[string]schemas.DeviceWindow) string { return matchesDevices(m, want) })
	t.Logf("%d device windows match the reference after %v", len(want), time.Since(start).Round(time.Millisecond))

	stationOf := map[string][2]string{}
	for _, r := range readings {
		stationOf[r.Device] = [2]string{r.Station, r.Line}
	}
	wantSt := reference.Stations(want, func(d string) (string, string) { return stationOf[d][0], stationOf[d][1] })
	stCodec, _ := codecs.NewStationWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject(topics.StationWindows)})
	readSink(t, ctx, s, topics.StationWindows, func(b []byte) (schemas.StationWindow, int32, error) {
		w, err := stCodec.Unmarshal(b)
		return w, w.Revision, err
	}, func(m map[string]schemas.StationWindow) string { return matchesStations(m, wantSt) })
	t.Logf("%d station windows match the reference after %v", len(wantSt), time.Since(start).Round(time.Millisecond))
}
