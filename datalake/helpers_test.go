package datalake

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"log/slog"

	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

var t0 = time.Date(2024, 1, 6, 20, 0, 0, 0, time.UTC)

// devWin makes a device window [start, start+4h).
func devWin(ca, unit, scp, station, line string, start time.Time, rev int32, entries, exits int64) schemas.DeviceWindow {
	w := schemas.DeviceWindow{CA: ca, Unit: unit, SCP: scp, Station: station, LineName: line, Division: "BMT", Desc: "REGULAR",
		Entries: entries, Exits: exits, Revision: rev, EmittedAt: start.Add(4*time.Hour + time.Duration(rev)*time.Minute + 123*time.Millisecond)}
	w.SetWindow(start, start.Add(4*time.Hour), nil)
	return w
}

// inZone gives device windows the DATE and TIME of their end in zone, as
// a pipeline with that --time-zone publishes them.
func inZone(ws []schemas.DeviceWindow, zone *time.Location) []schemas.DeviceWindow {
	out := make([]schemas.DeviceWindow, len(ws))
	for i, w := range ws {
		w.SetWindow(w.Start, w.End, zone)
		out[i] = w
	}
	return out
}

func stWin(station, line string, start time.Time, rev int32, entries, exits int64, devices int32) schemas.StationWindow {
	return schemas.StationWindow{Station: station, LineName: line, Division: "IRT", Start: start, End: start.Add(4 * time.Hour),
		Entries: entries, Exits: exits, Devices: devices, Revision: rev, EmittedAt: start.Add(4*time.Hour + time.Duration(rev)*time.Minute)}
}

// goldenDevices are the windows of the golden CSV files: plain rows, a
// window ending at midnight (next day's partition), fields pandas quotes
// (comma, double quote, newline) and one it does not (a leading space).
func goldenDevices() []schemas.DeviceWindow {
	a := devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 1, 120, 80)
	b := devWin("A002", "R051", "02-00-01", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 1, 0, 0)
	c := devWin("R001", "R101", "00-00-00", "SOUTH FERRY, WHITEHALL", "1RW", t0.Add(-4*time.Hour), 1, 15, 9)
	d := devWin("N001", "R173", "01-00-00", `INWOOD "207" ST`, "A", t0.Add(-4*time.Hour), 2, 7, 3)
	d.Desc = "RECOVR AUD"
	e := devWin("H001", "R175", "00-06-00", " 8 AV", "ACEL", t0.Add(-4*time.Hour), 1, 1, 1)
	f := devWin("X001", "R999", "00-00-00", "LINE\nBREAK", "Z", t0.Add(-4*time.Hour), 1, 2, 2)
	g := devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0, 1, 1000000, 999999) // ends 2024-01-07 00:00
	return []schemas.DeviceWindow{a, b, c, d, e, f, g}
}

func goldenStations() []schemas.StationWindow {
	return []schemas.StationWindow{
		stWin("59 ST", "NQR456W", t0.Add(-8*time.Hour), 1, 120, 80, 2),
		stWin("SOUTH FERRY, WHITEHALL", "1RW", t0.Add(-4*time.Hour), 1, 15, 9, 1),
		stWin(`INWOOD "207" ST`, "A", t0.Add(-4*time.Hour), 3, 7, 3, 1),
		stWin("59 ST", "NQR456W", t0, 1, 1000000, 999999, 1),
	}
}

// backends opens an empty store of every kind the tests cover.
func backends(t *testing.T) map[string]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Store{}
	local, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out["local"] = local
	fb, err := Open(ctx, "file://"+t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fb.Close() })
	out["fileblob"] = fb
	fbDirect, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{Metadata: fileblob.MetadataDontWrite, NoTempDir: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fbDirect.Close() })
	out["fileblob-bucket"] = NewBucketStore(fbDirect)
	mb := memblob.OpenBucket(nil)
	t.Cleanup(func() { mb.Close() })
	out["memblob"] = NewBucketStore(mb)
	for _, k := range lakeKinds[1:] { // the object stores
		out[k.name], _ = openKind(t, k)
	}
	return out
}

// keys lists the store's keys under prefix.
func keys(t *testing.T, s *Store, prefix string) []string {
	t.Helper()
	objs, err := s.list(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	sort.Strings(out)
	return out
}

func deviceBatch(first int64, ws ...schemas.DeviceWindow) *batch {
	b := &batch{}
	for i, w := range ws {
		b.add(first+int64(i), 100)
		b.devices = append(b.devices, w)
	}
	return b
}

func stationBatch(first int64, ws ...schemas.StationWindow) *batch {
	b := &batch{}
	for i, w := range ws {
		b.add(first+int64(i), 100)
		b.stations = append(b.stations, w)
	}
	return b
}

// mustWrite writes a batch as the writer does.
func mustWrite(t *testing.T, s *Store, ds Dataset, topic string, partition int32, b *batch, f Format) []writtenFile {
	t.Helper()
	sp := span{Topic: topic, Partition: partition, First: b.first, Last: b.last}
	files, _, err := writeBatch(context.Background(), s, ds, sp, b, f, batchHooks{})
	if err != nil {
		t.Fatalf("writeBatch %s: %v", fmt.Sprint(sp), err)
	}
	return files
}

func testLogger(t *testing.T) *slog.Logger { return testenv.Logger(t) }
