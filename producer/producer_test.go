package producer_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

const excerpt = "testdata/240106-excerpt.csv"

var start = time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)

// env is one broker and registry shared by the tests of this file.
type env struct {
	broker, registry string
}

func newEnv(t *testing.T) env {
	t.Helper()
	b := testenv.Broker(t, "")
	r := testenv.Registry(t, b.Addr())
	return env{broker: b.Addr(), registry: r.URL()}
}

func (e env) codec(t *testing.T, version int) *codecs.ReadingCodec {
	t.Helper()
	c, err := codecs.NewReadingCodec(codecs.ReadingConfig{
		Config:        codecs.Config{RegistryURL: e.registry, Subject: schemas.Subject(schemas.DefaultInputTopic)},
		WriterVersion: version,
		MaxFuture:     -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func collect(t *testing.T, cfg producer.Config, codec *codecs.ReadingCodec, n int) []producer.Record {
	t.Helper()
	s, err := producer.NewStream(cfg, codec, start, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []producer.Record
	for n <= 0 || len(out) < n {
		r, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func synthetic(seed int64) producer.Config {
	return producer.Config{
		Seed:      seed,
		Speed:     -1,
		Synthetic: producer.SyntheticConfig{Start: start, Duration: 24 * time.Hour, MaxBooths: 40},
	}
}

func TestSyntheticDeterministic(t *testing.T) {
	e := newEnv(t)
	c := e.codec(t, 2)
	cfg := synthetic(42)
	cfg.LateFraction, cfg.DuplicateFraction, cfg.BadFraction = 0.05, 0.05, 0.05
	a := collect(t, cfg, c, 0)
	b := collect(t, cfg, e.codec(t, 2), 0)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("lengths %d, %d", len(a), len(b))
	}
	for i := range a {
		if !bytes.Equal(a[i].Key, b[i].Key) || !bytes.Equal(a[i].Value, b[i].Value) || a[i].Injected != b[i].Injected || !a[i].Arrival.Equal(b[i].Arrival) {
			t.Fatalf("record %d differs:\n%+v\n%+v", i, a[i], b[i])
		}
	}
	other := collect(t, synthetic(43), c, 100)
	same := 0
	for i := range other {
		if bytes.Equal(other[i].Value, a[i].Value) {
			same++
		}
	}
	if same == len(other) {
		t.Fatal("a different seed gave the same records")
	}
	// Injections do not change the underlying readings.
	plain := collect(t, synthetic(42), c, 0)
	var regular []producer.Record
	for _, r := range a {
		if r.Injected == producer.InjectNone {
			regular = append(regular, r)
		}
	}
	if len(regular) >= len(plain) {
		t.Fatalf("%d regular records with injection, %d without", len(regular), len(plain))
	}
	byID := map[string]producer.Record{}
	for _, r := range plain {
		byID[r.Reading.ID] = r
	}
	for _, r := range regular {
		if p, ok := byID[r.Reading.ID]; !ok || !bytes.Equal(p.Value, r.Value) {
			t.Fatalf("injection changed reading %s", r.Reading.ID)
		}
	}
}

func TestSyntheticShape(t *testing.T) {
	e := newEnv(t)
	enc := e.codec(t, 2)
	dec := e.codec(t, 0)
	cfg := synthetic(7)
	cfg.LateFraction, cfg.DuplicateFraction, cfg.BadFraction = 0.1, 0.1, 0.1
	recs := collect(t, cfg, enc, 0)
	booths, err := producer.Booths()
	if err != nil || len(booths) != 768 {
		t.Fatalf("%d booths, %v", len(booths), err)
	}

	perDevice := map[string][]schemas.Reading{}
	counts := map[producer.Injection]int{}
	devicesPerBooth := map[string]map[string]bool{}
	var last time.Time
	wantReason := map[producer.Injection]codecs.Reason{
		producer.BadMagicByte: codecs.ReasonMagicByte, producer.BadTruncated: codecs.ReasonTruncated,
		producer.BadNegativeCounter: codecs.ReasonInvalidField, producer.BadTimestamp: codecs.ReasonInvalidField,
		producer.BadEmptyDevice: codecs.ReasonInvalidField,
	}
	for _, r := range recs {
		counts[r.Injected]++
		if r.Arrival.Before(last) {
			t.Fatalf("arrival went back: %v after %v", r.Arrival, last)
		}
		last = r.Arrival
		got, err := dec.DecodeReading(r.Value)
		if r.Injected.IsBad() {
			re, ok := codecs.AsReject(err)
			if !ok || re.Reason != wantReason[r.Injected] {
				t.Fatalf("%s record: %v", r.Injected, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s record does not decode: %v", r.Injected, err)
		}
		if string(r.Key) != got.Key() {
			t.Fatalf("key %s for %s", r.Key, got.Key())
		}
		et, _ := got.ParseEventTime()
		if !et.Equal(r.EventTime) || !got.EventTime.Equal(r.EventTime) || got.Source != "synthetic" {
			t.Fatalf("times: %+v vs %v", got, r.EventTime)
		}
		switch r.Injected {
		case producer.InjectLate:
			if got.Desc != "RECOVR AUD" || !r.Arrival.Equal(r.EventTime.Add(12*time.Hour)) {
				t.Fatalf("late record %+v arrival %v", got, r.Arrival)
			}
		case producer.InjectNone:
			if !r.Arrival.Equal(r.EventTime) || got.Desc != "REGULAR" {
				t.Fatalf("on-time record %+v arrival %v", got, r.Arrival)
			}
		}
		if r.Injected != producer.InjectDuplicate {
			perDevice[got.DeviceKey()] = append(perDevice[got.DeviceKey()], got)
		}
		if devicesPerBooth[got.CA+got.Unit] == nil {
			devicesPerBooth[got.CA+got.Unit] = map[string]bool{}
		}
		devicesPerBooth[got.CA+got.Unit][got.SCP] = true
	}
	if len(devicesPerBooth) != 40 {
		t.Fatalf("%d booths", len(devicesPerBooth))
	}
	for b, scps := range devicesPerBooth {
		if len(scps) < 2 || len(scps) > 4 {
			t.Fatalf("booth %s has %d devices", b, len(scps))
		}
	}
	for key, rs := range perDevice {
		// One reading per device per 4 h over 24 h; cumulative registers
		// never go down.
		if len(rs) != 6 {
			t.Fatalf("device %s: %d readings", key, len(rs))
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].Timestamp < rs[j].Timestamp })
		for i := 1; i < len(rs); i++ {
			a, _ := rs[i-1].ParseEventTime()
			b, _ := rs[i].ParseEventTime()
			if b.Sub(a) != 4*time.Hour {
				t.Fatalf("device %s: readings %v and %v", key, a, b)
			}
			if rs[i].Entries < rs[i-1].Entries || rs[i].Exits < rs[i-1].Exits {
				t.Fatalf("device %s: registers went down: %+v -> %+v", key, rs[i-1], rs[i])
			}
		}
	}
	n := counts[producer.InjectNone] + counts[producer.InjectLate]
	for _, k := range []producer.Injection{producer.InjectLate, producer.InjectDuplicate} {
		if f := float64(counts[k]) / float64(n); f < 0.05 || f > 0.15 {
			t.Errorf("%s: %d of %d", k, counts[k], n)
		}
	}
	bad := 0
	for _, k := range producer.BadKinds() {
		if counts[k] == 0 {
			t.Errorf("no %s records", k)
		}
		bad += counts[k]
	}
	if f := float64(bad) / float64(n); f < 0.05 || f > 0.15 {
		t.Errorf("bad: %d of %d", bad, n)
	}
}

func TestSyntheticIncrementMode(t *testing.T) {
	e := newEnv(t)
	cfg := synthetic(1)
	cfg.Synthetic.Counters = producer.CountersIncrement
	cfg.Synthetic.DevicesPerBooth = 1
	cfg.Synthetic.Interval = 10 * time.Second
	cfg.Synthetic.Duration = time.Minute
	cfg.Synthetic.MaxBooths = 3
	recs := collect(t, cfg, e.codec(t, 1), 0)
	if len(recs) != 18 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if r.Reading.Entries < 5 || r.Reading.Entries > 10 || r.Reading.Exits < 5 || r.Reading.Exits > 10 {
			t.Fatalf("increment %+v", r.Reading)
		}
	}
}

func TestCSVReplay(t *testing.T) {
	e := newEnv(t)
	c := e.codec(t, 2)
	dec := e.codec(t, 0)
	cfg := producer.Config{Source: producer.SourceCSV, CSV: producer.CSVConfig{Path: excerpt}}
	recs := collect(t, cfg, c, 0)
	if len(recs) != 207 {
		t.Fatalf("%d records", len(recs))
	}
	ids := map[string]bool{}
	for i, r := range recs {
		if i > 0 && r.EventTime.Before(recs[i-1].EventTime) {
			t.Fatalf("not in event order at %d", i)
		}
		got, err := dec.DecodeReading(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		ids[got.ID] = true
		if got.Source != "csv:240106-excerpt.csv" {
			t.Fatal(got.Source)
		}
	}
	if len(ids) != 207 {
		t.Fatalf("%d distinct ids", len(ids))
	}
	if recs[0].Reading.CA != "TRAM2" || recs[0].Reading.Time != "00:00:00" {
		t.Fatalf("earliest row %+v", recs[0].Reading)
	}
	var first schemas.Reading
	for _, r := range recs {
		if r.Reading.CA == "A002" && r.Reading.SCP == "02-00-00" {
			first = r.Reading
			break
		}
	}
	want := schemas.Reading{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W", Division: "BMT",
		Date: "12-30-23", Time: "03:00:00", Desc: "REGULAR", Entries: 102019, Exits: 73801, ID: first.ID,
		// DATE and TIME as in the file, New York time; the event time the
		// instant: 03:00 EST is 08:00 UTC.
		Timestamp: "2023-12-30 08:00:00", EventTime: time.Date(2023, 12, 30, 8, 0, 0, 0, time.UTC), Source: "csv:240106-excerpt.csv"}
	if first != want {
		t.Fatalf("first row\n%+v\nwant\n%+v", first, want)
	}

	// Replays are idempotent: the same IDs again, also from a gzip copy.
	gz := filepath.Join(t.TempDir(), "240106.csv.gz")
	raw, err := os.ReadFile(excerpt)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.CSV.Path, cfg.CSV.SourceLabel = gz, "csv:240106-excerpt.csv"
	again := collect(t, cfg, c, 0)
	for i := range recs {
		if !bytes.Equal(recs[i].Value, again[i].Value) {
			t.Fatalf("gzip replay differs at %d", i)
		}
	}

	// File order keeps the file's order; RECOVR AUD rows of A047 arrive
	// after later readings of other devices.
	cfg.CSV.Order = producer.OrderFile
	file := collect(t, cfg, c, 0)
	if file[0].Reading.SCP != "02-00-00" || file[42].Reading.SCP != "02-00-01" || file[206].Reading.CA != "TRAM2" {
		t.Fatalf("file order: %+v %+v", file[0].Reading, file[42].Reading)
	}
	for i := 1; i < len(file); i++ {
		if file[i].Arrival.Before(file[i-1].Arrival) {
			t.Fatal("file order arrival must not go back")
		}
	}

	// Arrival order: RECOVR AUD rows 8 h late.
	cfg.CSV.Order = producer.OrderArrival
	arr := collect(t, cfg, c, 0)
	recovr := 0
	for _, r := range arr {
		if r.Reading.Desc == "RECOVR AUD" {
			recovr++
			if !r.Arrival.Equal(r.EventTime.Add(8 * time.Hour)) {
				t.Fatalf("RECOVR AUD arrival %v for %v", r.Arrival, r.EventTime)
			}
		}
	}
	if recovr != 11 {
		t.Fatalf("%d RECOVR AUD rows", recovr)
	}

	// Shuffle: the same rows in another order, the same order for the
	// same seed, and arrival (the stream clock) never going back.
	cfg.CSV.Order = producer.OrderShuffle
	shuf, shufAgain := collect(t, cfg, c, 0), collect(t, cfg, c, 0)
	cfg.Seed++
	shufOther := collect(t, cfg, c, 0)
	idsOf := func(rs []producer.Record) (order string, set []string) {
		for _, r := range rs {
			order += r.Reading.ID + ","
			set = append(set, r.Reading.ID)
		}
		sort.Strings(set)
		return order, set
	}
	o1, s1 := idsOf(shuf)
	o2, _ := idsOf(shufAgain)
	o3, s3 := idsOf(shufOther)
	of, sf := idsOf(file)
	if o1 != o2 || o1 == o3 || o1 == of || !slices.Equal(s1, sf) || !slices.Equal(s3, sf) {
		t.Fatal("shuffle must send the file's rows in a random order that the seed repeats")
	}
	for i := 1; i < len(shuf); i++ {
		if shuf[i].Arrival.Before(shuf[i-1].Arrival) {
			t.Fatal("shuffled arrival must not go back")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	e := newEnv(t)
	c := e.codec(t, 2)
	for _, cfg := range []producer.Config{
		{Source: "kafka"},
		{Source: producer.SourceCSV},
		{SchemaVersion: 3},
		{LateFraction: 2},
		{Synthetic: producer.SyntheticConfig{Counters: "weird"}},
		{Source: producer.SourceCSV, CSV: producer.CSVConfig{Path: excerpt, Order: "random"}},
		{Source: producer.SourceCSV, CSV: producer.CSVConfig{Path: "testdata/missing.csv"}},
	} {
		if _, err := producer.NewStream(cfg, c, start, nil); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// fakeClock advances instantly on Sleep and records the total slept.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept += d
	return nil
}
