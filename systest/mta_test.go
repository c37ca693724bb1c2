package systest

import (
	"context"
	"encoding/csv"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// readMTA parses a weekly file (gzip when its name ends in .gz)
// independently of the producer: columns
// ,CA,UNIT,SCP,STATION,LINENAME,DIVISION,DATE,TIME,DESC,ENTRIES,EXITS, with
// DATE and TIME local time in zone, each row's instant worked out here
// (mtaClock) by the rules the producer states.
func readMTA(t *testing.T, path string, zone *time.Location) []reference.Reading {
	t.Helper()
	var in io.Reader
	if strings.HasSuffix(path, ".gz") {
		in = openGzip(t, path)
	} else {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		in = f
	}
	rows, err := csv.NewReader(in).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	clock := mtaClock{zone: zone, last: map[string]time.Time{}, second: map[string]bool{}}
	var out []reference.Reading
	for _, row := range rows[1:] {
		c := row[1:]
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		wall, err := time.Parse("01/02/2006 15:04:05", c[6]+" "+c[7])
		if err != nil {
			t.Fatalf("row %v: %v", row, err)
		}
		e, err1 := strconv.ParseInt(c[9], 10, 64)
		x, err2 := strconv.ParseInt(c[10], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("row %v", row)
		}
		device := c[0] + "|" + c[1] + "|" + c[2]
		out = append(out, reference.Reading{Device: device, Station: c[3], Line: c[4], Division: c[5],
			T: clock.instant(device, wall).UnixMilli(), Entries: e, Exits: x, ID: strings.Join(c, ","), Desc: c[8]})
	}
	return out
}

// mtaClock turns local clock readings (wall: the reading's fields, as a
// UTC time) into instants, in file order: a reading the zone's clock shows
// once is that instant; one it shows twice (the hour the clocks go back
// over) is the first showing until the device's readings of that day in
// that hour go back or repeat, then the second; one it never shows (the
// hour the clocks skip) is read with the offset of the day before.
type mtaClock struct {
	zone   *time.Location
	last   map[string]time.Time // device|date -> its last reading shown twice
	second map[string]bool      // device|date -> in the second showing
}

func (c *mtaClock) instant(device string, wall time.Time) time.Time {
	y, m, d := wall.Date()
	_, before := time.Date(y, m, d-1, 12, 0, 0, 0, c.zone).Zone()
	_, after := time.Date(y, m, d+1, 12, 0, 0, 0, c.zone).Zone()
	var shows []time.Time
	for _, off := range []int{before, after} {
		u := wall.Add(-time.Duration(off) * time.Second)
		if u.In(c.zone).Format(time.DateTime) == wall.Format(time.DateTime) && !slices.ContainsFunc(shows, u.Equal) {
			shows = append(shows, u)
		}
	}
	sort.Slice(shows, func(i, j int) bool { return shows[i].Before(shows[j]) })
	switch len(shows) {
	case 0:
		return wall.Add(-time.Duration(before) * time.Second)
	case 1:
		return shows[0]
	}
	key := device + "|" + wall.Format(time.DateOnly)
	if last, ok := c.last[key]; ok && !wall.After(last) {
		c.second[key] = true
	}
	c.last[key] = wall
	if c.second[key] {
		return shows[1]
	}
	return shows[0]
}

// TestMTAWeeks replays real MTA weeks with a retention that covers the
// week, so every reading is accepted however late it arrives, and checks
// that the highest revision of every device and station window equals the
// reference computed directly from the file:
//   - in file order: the file is sorted by device, so one device's whole
//     week arrives after another's and stream time runs far ahead of most
//     readings (windows close early and are corrected);
//   - shuffled: every kind of lateness at once;
//   - in event order: nothing is late, so every device and station window
//     is published exactly once.
func TestMTAWeeks(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the real MTA weeks take minutes")
	}
	for _, tc := range []struct {
		name, file string
		order      producer.Order
	}{
		{"file order", "240106.csv.gz", producer.OrderFile},
		{"shuffled", "240113.csv.gz", producer.OrderShuffle},
		{"event order", "240113.csv.gz", producer.OrderEvent},
	} {
		t.Run(tc.name, func(t *testing.T) { replayMTAWeek(t, mtaDir+tc.file, tc.order) })
	}
}

func replayMTAWeek(t *testing.T, path string, order producer.Order) {
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no MTA data beside the checkout (%v)", err)
	}
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cfg := s.config(t)
	cfg.Partitions = 6
	cfg.Retention = 9 * 24 * time.Hour
	cfg.IdleTimeout = 5 * time.Second
	metrics, err := processors.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	runMember(t, ctx, cancel, cfg, metrics)

	topics := processors.DefaultTopics()
	start := time.Now()
	sum, err := producer.Run(ctx, producer.Config{Source: producer.SourceCSV, CSV: producer.CSVConfig{Path: path, Order: order},
		Topic: topics.Input, RegistryClient: s.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(s.brokers...)},
		Speed: -1, Progress: producer.ProgressOff, Logger: cfg.Logger, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	readings := readMTA(t, path, newYork(t)) // the MTA's zone, the producer's default
	if sum.Sent != int64(len(readings)) {
		t.Fatalf("produced %d readings, the file has %d", sum.Sent, len(readings))
	}
	t.Logf("produced %d readings in %v", sum.Sent, time.Since(start).Round(time.Millisecond))

	want := reference.Devices(refParams, readings)
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string { return reference.DiffDevices(m, want) })
	t.Logf("%d device windows match the reference after %v", len(want), time.Since(start).Round(time.Millisecond))

	wantSt := reference.StationsOf(want, readings)
	waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string { return reference.DiffStations(m, wantSt) })
	t.Logf("%d station windows match the reference after %v", len(wantSt), time.Since(start).Round(time.Millisecond))

	// Every reading accounted for at the device stage: each distinct
	// (device, ID) applied once, repeated rows duplicates, none too late.
	distinct := map[[2]string]bool{}
	for _, r := range readings {
		distinct[[2]string{r.Device, r.ID}] = true
	}
	snap := metrics.Snapshot()
	if a, d, l := snap.Outcomes[processors.OutcomeApplied], snap.Outcomes[processors.OutcomeDuplicate], snap.Outcomes[processors.OutcomeLate]; a != float64(len(distinct)) || a+d != float64(len(readings)) || l != 0 {
		t.Errorf("device stage: %v applied + %v duplicates + %v too late; want %d distinct of %d readings, none too late", a, d, l, len(distinct), len(readings))
	}
	t.Logf("accounting: %d readings = %v applied + %v duplicates + %v too late", len(readings),
		snap.Outcomes[processors.OutcomeApplied], snap.Outcomes[processors.OutcomeDuplicate], snap.Outcomes[processors.OutcomeLate])

	// In event order nothing is late: no window may be revised. In the
	// other orders any may be (most readings are late); the counts are
	// logged.
	var allowed map[string]bool
	if order == producer.OrderEvent {
		allowed = map[string]bool{}
	}
	testenv.CheckRevisions(t, ctx, s.sinks(), allowed, allowed)
}
