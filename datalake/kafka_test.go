package datalake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

const (
	devTopic = schemas.DefaultDeviceWindowsTopic
	stTopic  = schemas.DefaultStationWindowsTopic
)

// stack is the embedded broker and registry with a producer and the codecs.
type stack struct {
	brokers  []string
	registry string
	sr       srclient.ISchemaRegistryClient
	client   *kgo.Client
	dev      *codecs.DeviceWindowCodec
	st       *codecs.StationWindowCodec
}

func newStack(t *testing.T) *stack {
	t.Helper()
	// The crash tests restart a SIGKILLed writer, whose group waits out the
	// dead member's session: allow a short one (see lakeWriterChild).
	b := testenv.StartBroker(t, broker.Config{GroupMinSessionTimeout: time.Second})
	r := testenv.Registry(t, b.Addr())
	testenv.CreateTopic(t, b.Addr(), devTopic, 3, nil)
	testenv.CreateTopic(t, b.Addr(), stTopic, 2, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(schemas.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	sr := srclient.CreateSchemaRegistryClient(r.URL())
	dev, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(devTopic)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := codecs.NewStationWindowCodec(codecs.Config{Client: sr, Subject: schemas.Subject(stTopic)})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{brokers: []string{b.Addr()}, registry: r.URL(), sr: sr, client: cl, dev: dev, st: st}
}

func (s *stack) config(store *Store) Config {
	return Config{
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers(s.brokers...)},
		Registry:  s.sr, Store: store,
		FlushInterval: 300 * time.Millisecond, FlushRecords: 50,
	}
}

// sinkKey is the emitter's record key of a window.
func devKey(w *schemas.DeviceWindow) string {
	return w.DeviceKey() + schemas.KeySeparator + w.Start.UTC().Format("2006-01-02T15:04:05Z")
}

func stKey(w *schemas.StationWindow) string {
	return w.StationKey() + schemas.KeySeparator + w.Start.UTC().Format("2006-01-02T15:04:05Z")
}

// workload is a stream of window emissions with corrections: every window
// gets revision 1, some get later revisions (emitted later in the stream),
// a few get a replay generation; in the order a sink topic would carry them.
type workload struct {
	devices  []schemas.DeviceWindow
	stations []schemas.StationWindow
}

func genWorkload(seed uint64, devices, windows int) workload {
	rng := rand.New(rand.NewPCG(seed, 7))
	start := time.Date(2024, 1, 6, 8, 0, 0, 0, time.UTC) // 4-hour windows over two dates
	var wl workload
	type pending struct {
		at int
		d  *schemas.DeviceWindow
		s  *schemas.StationWindow
	}
	var later []pending
	step := 0
	for j := 0; j < windows; j++ {
		ws := start.Add(time.Duration(j) * 4 * time.Hour)
		for st := 0; st < 3; st++ {
			var sum schemas.StationWindow
			for d := st; d < devices; d += 3 {
				w := devWin(fmt.Sprintf("A%03d", st), fmt.Sprintf("R%03d", st), fmt.Sprintf("02-00-%02d", d),
					fmt.Sprintf("STATION %d", st), "NQR", ws, 1, int64(rng.IntN(500)), int64(rng.IntN(300)))
				wl.devices = append(wl.devices, w)
				sum.Entries += w.Entries
				sum.Exits += w.Exits
				sum.Devices++
				for rev := int32(2); rng.IntN(3) == 0 && rev < 5; rev++ {
					c := w
					c.Revision = rev
					c.Entries += int64(rng.IntN(20))
					c.EmittedAt = c.EmittedAt.Add(time.Duration(rev) * time.Minute)
					later = append(later, pending{at: step + 1 + rng.IntN(40), d: &c})
				}
				if rng.IntN(25) == 0 {
					c := w
					c.Generation, c.Revision = 1, 1
					later = append(later, pending{at: step + 50, d: &c})
				}
				step++
			}
			sw := stWin(fmt.Sprintf("STATION %d", st), "NQR", ws, 1, sum.Entries, sum.Exits, sum.Devices)
			wl.stations = append(wl.stations, sw)
			if rng.IntN(2) == 0 {
				c := sw
				c.Revision = 2
				c.Entries++
				later = append(later, pending{at: step + rng.IntN(30), s: &c})
			}
			// Emit the corrections that are due.
			sort.SliceStable(later, func(i, j int) bool { return later[i].at < later[j].at })
			for len(later) > 0 && later[0].at <= step {
				if later[0].d != nil {
					wl.devices = append(wl.devices, *later[0].d)
				} else {
					wl.stations = append(wl.stations, *later[0].s)
				}
				later = later[1:]
			}
		}
	}
	for _, p := range later {
		if p.d != nil {
			wl.devices = append(wl.devices, *p.d)
		} else {
			wl.stations = append(wl.stations, *p.s)
		}
	}
	// Revisions of a key must stay in order on their partition: drop any
	// correction that came out before a higher version of the same key.
	wl.devices = inOrder(wl.devices, func(w *schemas.DeviceWindow) (string, int32, int32) { return devKey(w), w.Generation, w.Revision })
	wl.stations = inOrder(wl.stations, func(w *schemas.StationWindow) (string, int32, int32) { return stKey(w), w.Generation, w.Revision })
	return wl
}

func inOrder[W any](ws []W, id func(*W) (string, int32, int32)) []W {
	type v struct{ g, r int32 }
	seen := map[string]v{}
	var out []W
	for i := range ws {
		k, g, r := id(&ws[i])
		if c, ok := seen[k]; ok && (g < c.g || (g == c.g && r <= c.r)) {
			continue
		}
		seen[k] = v{g, r}
		out = append(out, ws[i])
	}
	return out
}

// produce sends the workload and bad records; it returns how many records
// went to each topic.
func (s *stack) produce(t *testing.T, ctx context.Context, wl workload, bad int) {
	t.Helper()
	for i := range wl.devices {
		b, err := s.dev.Marshal(&wl.devices[i])
		if err != nil {
			t.Fatal(err)
		}
		s.client.Produce(ctx, &kgo.Record{Topic: devTopic, Key: []byte(devKey(&wl.devices[i])), Value: b}, nil)
	}
	for i := range wl.stations {
		b, err := s.st.Marshal(&wl.stations[i])
		if err != nil {
			t.Fatal(err)
		}
		s.client.Produce(ctx, &kgo.Record{Topic: stTopic, Key: []byte(stKey(&wl.stations[i])), Value: b}, nil)
	}
	for i := 0; i < bad; i++ {
		s.client.Produce(ctx, &kgo.Record{Topic: devTopic, Key: []byte(fmt.Sprintf("bad-%d", i)), Value: []byte{1, 2, 3, byte(i)}}, nil)
		s.client.Produce(ctx, &kgo.Record{Topic: stTopic, Key: []byte(fmt.Sprintf("tombstone-%d", i))}, nil)
	}
	if err := s.client.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// highWatermarks returns the end offsets of the sink topics.
func (s *stack) highWatermarks(t *testing.T, ctx context.Context) map[string]map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, devTopic, stTopic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[int32]int64{devTopic: {}, stTopic: {}}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// waitCaughtUp waits until the lake's checkpoints reach the high
// watermarks.
func waitCaughtUp(t *testing.T, ctx context.Context, st *Store, hw map[string]map[int32]int64) {
	t.Helper()
	for {
		done := true
		for topic, parts := range hw {
			ds := DeviceWindows
			if topic == stTopic {
				ds = StationWindows
			}
			cps, err := readCheckpoints(ctx, st, ds)
			if err != nil {
				t.Fatal(err)
			}
			for p, end := range parts {
				if end > 0 && cps[topic][p] < end {
					done = false
				}
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the lake did not catch up with %v", hw)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lakeRows reads every committed data file of a dataset in one format and
// returns the spans of the files and, for Parquet, the rows.
type lakeContent struct {
	spans    map[string][]span // format -> spans of part files
	devices  []DeviceRow
	stations []StationRow
	// dates are the date partitions (dt=) of the Parquet rows, in order.
	deviceDates, stationDates []string
	csvRows                   map[Dataset]int
	files                     int
}

func readLake(t *testing.T, ctx context.Context, st *Store) lakeContent {
	t.Helper()
	lc := lakeContent{spans: map[string][]span{}, csvRows: map[Dataset]int{}}
	for _, ds := range Datasets() {
		for _, k := range keys(t, st, string(ds)+"/") {
			_, dir, base := splitKey(k)
			if dir == rejectedDir {
				if fn := parseName(base); fn.kind == kindPart && !fn.temp {
					lc.spans[string(ds)+fn.ext] = append(lc.spans[string(ds)+fn.ext], fn.span)
				}
				continue
			}
			if !strings.HasPrefix(dir, datePartitionName) {
				continue
			}
			fn := parseName(base)
			if fn.temp {
				t.Errorf("temporary file left: %s", k)
				continue
			}
			lc.files++
			if fn.kind == kindPart {
				lc.spans[string(ds)+fn.ext] = append(lc.spans[string(ds)+fn.ext], fn.span)
			}
			data, err := st.read(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case fn.ext == ExtParquet && ds == DeviceWindows:
				rows, err := readParquet[DeviceRow](data)
				if err != nil {
					t.Fatal(err)
				}
				lc.devices = append(lc.devices, rows...)
				for range rows {
					lc.deviceDates = append(lc.deviceDates, strings.TrimPrefix(dir, datePartitionName))
				}
			case fn.ext == ExtParquet:
				rows, err := readParquet[StationRow](data)
				if err != nil {
					t.Fatal(err)
				}
				lc.stations = append(lc.stations, rows...)
				for range rows {
					lc.stationDates = append(lc.stationDates, strings.TrimPrefix(dir, datePartitionName))
				}
			case fn.ext == ExtCSV:
				f, err := readCSVGz(data)
				if err != nil {
					t.Fatal(err)
				}
				lc.csvRows[ds] += len(f.rows)
			}
		}
	}
	return lc
}

// checkZone checks that the lake is partitioned by the local date of each
// window's end in zone, and that station rows have their end's local DATE
// and TIME in it (a device row's come with the record).
func checkZone(t *testing.T, lc lakeContent, zone *time.Location) {
	t.Helper()
	for i, r := range lc.devices {
		if d := PartitionDate(r.End, zone); lc.deviceDates[i] != d {
			t.Fatalf("device window ending %v in dt=%s, want dt=%s", r.End, lc.deviceDates[i], d)
		}
	}
	for i, r := range lc.stations {
		date, clock := schemas.WindowEndFields(r.End, zone)
		if d := PartitionDate(r.End, zone); lc.stationDates[i] != d || r.Date != date || r.Time != clock {
			t.Fatalf("station window ending %v: dt=%s %s %s, want dt=%s %s %s", r.End, lc.stationDates[i], r.Date, r.Time, d, date, clock)
		}
	}
}

// checkSpans checks that the batches of every topic-partition cover
// [0, end) without gaps or overlaps: per dataset, the offset ranges of all
// its files (data files of any date and format, and rejected files; a batch
// of only undecodable records has no data file) are disjoint and
// contiguous, and CSV and Parquet files exist for the same batches.
func checkSpans(t *testing.T, lc lakeContent, hw map[string]map[int32]int64) {
	t.Helper()
	for _, ds := range Datasets() {
		all := map[int32]map[span]bool{}
		for _, ext := range []string{ExtCSV, ExtParquet, extRejected} {
			for _, s := range lc.spans[string(ds)+ext] {
				if all[s.Partition] == nil {
					all[s.Partition] = map[span]bool{}
				}
				all[s.Partition][s] = true
			}
		}
		setOf := func(ext string) map[span]bool {
			m := map[span]bool{}
			for _, s := range lc.spans[string(ds)+ext] {
				m[s] = true
			}
			return m
		}
		if csv, pq := setOf(ExtCSV), setOf(ExtParquet); len(csv) > 0 && len(pq) > 0 && !reflect.DeepEqual(csv, pq) {
			t.Errorf("%s: CSV and Parquet files cover different batches", ds)
		}
		for p, set := range all {
			var ss []span
			for s := range set {
				ss = append(ss, s)
			}
			sort.Slice(ss, func(i, j int) bool { return ss[i].First < ss[j].First })
			next := int64(0)
			for _, s := range ss {
				if s.First != next {
					t.Errorf("%s partition %d: batch %d-%d after offset %d (gap or overlap)", ds, p, s.First, s.Last, next-1)
				}
				next = s.Last + 1
			}
			if end := hw[ss[0].Topic][p]; next != end {
				t.Errorf("%s partition %d: files end at %d, topic at %d", ds, p, next, end)
			}
		}
	}
}

// versionCounts counts rows per (window key, generation, revision).
func deviceVersions(rows []DeviceRow) map[string]int {
	out := map[string]int{}
	for _, r := range rows {
		out[fmt.Sprintf("%s@%d.%d", r.windowKey(), r.Generation, r.Revision)]++
	}
	return out
}

func stationVersions(rows []StationRow) map[string]int {
	out := map[string]int{}
	for _, r := range rows {
		out[fmt.Sprintf("%s@%d.%d", r.windowKey(), r.Generation, r.Revision)]++
	}
	return out
}

// totals are a dataset's newest-version totals.
type totals struct {
	Windows        int
	Entries, Exits int64
}

func (wl workload) deviceTotals() totals {
	var tt totals
	for _, w := range newestDevices(wl.devices) {
		tt.Windows++
		tt.Entries += w.Entries
		tt.Exits += w.Exits
	}
	return tt
}

func (wl workload) stationTotals() totals {
	newest := map[string]schemas.StationWindow{}
	for _, w := range wl.stations {
		k := stKey(&w)
		if c, ok := newest[k]; ok && (c.Generation > w.Generation || (c.Generation == w.Generation && c.Revision > w.Revision)) {
			continue
		}
		newest[k] = w
	}
	var tt totals
	for _, w := range newest {
		tt.Windows++
		tt.Entries += w.Entries
		tt.Exits += w.Exits
	}
	return tt
}

func rowTotals[R versioned, P rowPtr[R]](rows []R, entries, exits func(*R) int64) totals {
	best := map[string]R{}
	for _, r := range rows {
		k := P(&r).windowKey()
		if c, ok := best[k]; ok {
			cg, cr := P(&c).version()
			g, rv := P(&r).version()
			if g < cg || (g == cg && rv < cr) {
				continue
			}
		}
		best[k] = r
	}
	var tt totals
	for _, r := range best {
		tt.Windows++
		tt.Entries += entries(&r)
		tt.Exits += exits(&r)
	}
	return tt
}
