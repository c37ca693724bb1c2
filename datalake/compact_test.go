package datalake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// snapshot is every key of a store with its bytes.
func snapshot(t *testing.T, s *Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, k := range keys(t, s, "") {
		b, err := s.read(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = b
	}
	return out
}

func sameSnapshot(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	var gk, wk []string
	for k := range got {
		gk = append(gk, k)
	}
	for k := range want {
		wk = append(wk, k)
	}
	sort.Strings(gk)
	sort.Strings(wk)
	if !reflect.DeepEqual(gk, wk) {
		t.Fatalf("%s: keys\n%s\nwant\n%s", what, strings.Join(gk, "\n"), strings.Join(wk, "\n"))
	}
	for k, b := range want {
		if strings.Contains(k, "/"+checkpointDir+"/") {
			continue // checkpoints carry a time
		}
		if !bytes.Equal(got[k], b) {
			t.Errorf("%s: %s differs", what, k)
		}
	}
}

// correctedLake writes device and station batches with corrections: later
// revisions in later batches, two revisions in one batch, a new generation
// that beats a higher revision, and two partitions. It returns the windows
// written, in order.
func correctedLake(t *testing.T, s *Store, f Format) ([]schemas.DeviceWindow, []schemas.StationWindow) {
	t.Helper()
	a1 := devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 1, 100, 50)
	a2 := devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 2, 110, 55)
	a3 := devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 3, 111, 56)
	b1 := devWin("A002", "R051", "02-00-01", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 1, 7, 7)
	c3 := devWin("R001", "R101", "00-00-00", "SOUTH FERRY, WHITEHALL", "1RW", t0.Add(-4*time.Hour), 3, 30, 30)
	c1g := devWin("R001", "R101", "00-00-00", "SOUTH FERRY, WHITEHALL", "1RW", t0.Add(-4*time.Hour), 1, 31, 31)
	c1g.Generation = 1 // a replay: generation beats revision
	d1 := devWin("N001", "R173", "01-00-00", `INWOOD "207" ST`, "A", t0.Add(-4*time.Hour), 1, 5, 5)
	mustWrite(t, s, DeviceWindows, "dev", 0, deviceBatch(0, a1, b1), f)
	mustWrite(t, s, DeviceWindows, "dev", 0, deviceBatch(2, a2, a3), f) // two revisions in one batch
	mustWrite(t, s, DeviceWindows, "dev", 1, deviceBatch(0, c3, d1), f)
	mustWrite(t, s, DeviceWindows, "dev", 1, deviceBatch(2, c1g), f)

	s1 := stWin("59 ST", "NQR456W", t0.Add(-8*time.Hour), 1, 107, 57, 2)
	s2 := stWin("59 ST", "NQR456W", t0.Add(-8*time.Hour), 2, 118, 63, 2)
	s3 := stWin("SOUTH FERRY, WHITEHALL", "1RW", t0.Add(-4*time.Hour), 1, 30, 30, 1)
	mustWrite(t, s, StationWindows, "st", 0, stationBatch(0, s1, s3), f)
	mustWrite(t, s, StationWindows, "st", 0, stationBatch(2, s2), f)
	return []schemas.DeviceWindow{a1, b1, a2, a3, c3, d1, c1g}, []schemas.StationWindow{s1, s3, s2}
}

func TestCompactKeepsNewestVersion(t *testing.T) {
	ctx := context.Background()
	for _, f := range []Format{{}, {NoParquet: true}, {NoCSVIndex: true}} {
		name := "csv+parquet"
		if f.NoParquet {
			name = "csv only"
		} else if f.NoCSVIndex {
			name = "no index"
		}
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			devs, sts := correctedLake(t, s, f)
			res, err := Compact(ctx, CompactConfig{Store: s, Format: f})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 2 {
				t.Fatalf("compacted %d partitions, want 2: %+v", len(res), res)
			}
			dir := partitionDir(DeviceWindows, "2024-01-06")
			files := keys(t, s, dir)
			wantFiles := 2
			if f.NoParquet {
				wantFiles = 1
			}
			if len(files) != wantFiles {
				t.Fatalf("files after compaction: %v", files)
			}
			newest := newestDevices(devs)
			wantEntries := map[string]int64{}
			for _, w := range newest {
				wantEntries[w.DeviceKey()+"@"+w.Time] = w.Entries
			}
			for _, k := range files {
				data, err := s.read(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int64{}
				switch {
				case strings.HasSuffix(k, ExtParquet):
					rows, err := readParquet[DeviceRow](data)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range rows {
						w := newest[r.windowKey()]
						if r.Revision != w.Revision || r.Generation != w.Generation {
							t.Errorf("%s: %s has revision %d/%d, want %d/%d", k, r.windowKey(), r.Generation, r.Revision, w.Generation, w.Revision)
						}
						got[schemas.DeviceKey(r.CA, r.Unit, r.SCP)+"@"+r.Time] = r.Entries
					}
				default:
					cf, err := readCSVGz(data)
					if err != nil {
						t.Fatal(err)
					}
					if cf.index == f.NoCSVIndex {
						t.Errorf("%s: index column %v", k, cf.index)
					}
					for _, r := range cf.rows {
						e, _ := parseInt(r[9])
						got[schemas.DeviceKey(r[0], r[1], r[2])+"@"+r[7]] = e
					}
					if len(got) != len(cf.rows) {
						t.Errorf("%s: %d rows for %d windows", k, len(cf.rows), len(got))
					}
				}
				if !reflect.DeepEqual(got, wantEntries) {
					t.Errorf("%s: entries %v, want %v", k, got, wantEntries)
				}
			}
			// Stations: the revision 2 of 59 ST.
			sf := keys(t, s, partitionDir(StationWindows, "2024-01-06"))
			for _, k := range sf {
				if !strings.HasSuffix(k, ExtCSV) {
					continue
				}
				data, _ := s.read(ctx, k)
				cf, err := readCSVGz(data)
				if err != nil {
					t.Fatal(err)
				}
				if len(cf.rows) != 2 || cf.rows[0][0] != "59 ST" || cf.rows[0][5] != "118" {
					t.Errorf("%s rows %v, want 59 ST with 118 entries first (of %v)", k, cf.rows, sts)
				}
			}
		})
	}
}

func parseInt(s string) (int64, error) {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// TestCompactIdempotent: a second run changes nothing; a run after more
// batches arrive folds the compacted file and the new parts into a new one.
func TestCompactIdempotent(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	correctedLake(t, s, Format{})
	if _, err := Compact(ctx, CompactConfig{Store: s}); err != nil {
		t.Fatal(err)
	}
	once := snapshot(t, s)
	res, err := Compact(ctx, CompactConfig{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 0 {
		t.Fatalf("second run compacted %+v", res)
	}
	sameSnapshot(t, "second run", snapshot(t, s), once)

	// A later correction lands in a new part file next to the compacted one.
	a4 := devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 4, 200, 100)
	mustWrite(t, s, DeviceWindows, "dev", 0, deviceBatch(4, a4), Format{})
	res, err = Compact(ctx, CompactConfig{Store: s, Dates: []string{"2024-01-06"}, Datasets: []Dataset{DeviceWindows}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Inputs) != 4 || len(res[0].Outputs) != 2 {
		t.Fatalf("third run: %+v", res)
	}
	var pq string
	for _, k := range keys(t, s, partitionDir(DeviceWindows, "2024-01-06")) {
		if strings.HasSuffix(k, ExtParquet) {
			pq = k
		}
	}
	data, _ := s.read(ctx, pq)
	rows, err := readParquet[DeviceRow](data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.SCP == "02-00-00" && r.Revision != 4 {
			t.Errorf("window of a4 has revision %d after recompaction", r.Revision)
		}
	}
}

// TestCompactCrash stops a compaction between writing its outputs and
// deleting its inputs (and, separately, after losing one output), then
// re-runs it: the result is what an uninterrupted run gives, byte for byte.
func TestCompactCrash(t *testing.T) {
	ctx := context.Background()
	clean, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	correctedLake(t, clean, Format{})
	if _, err := Compact(ctx, CompactConfig{Store: clean}); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, clean)

	cases := []struct {
		name     string
		damage   func(t *testing.T, s *Store) // after the crash
		recovery string
	}{
		{"between write and delete", nil, "rolled forward"},
		{"some inputs already deleted", func(t *testing.T, s *Store) {
			for _, k := range keys(t, s, partitionDir(DeviceWindows, "2024-01-06")) {
				if strings.Contains(k, "/part-dev-0-") {
					if err := s.remove(ctx, k); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, "rolled forward"},
		{"an output missing", func(t *testing.T, s *Store) {
			for _, k := range keys(t, s, partitionDir(DeviceWindows, "2024-01-06")) {
				if strings.HasSuffix(k, ExtCSV) && strings.Contains(k, "/"+compactedPrefix) {
					if err := s.remove(ctx, k); err != nil {
						t.Fatal(err)
					}
				}
			}
		}, "rolled back"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			correctedLake(t, s, Format{})
			crash := errors.New("crash")
			_, err = Compact(ctx, CompactConfig{Store: s, Datasets: []Dataset{DeviceWindows}, afterOutputs: func() error { return crash }})
			if !errors.Is(err, crash) {
				t.Fatalf("Compact: %v", err)
			}
			dir := partitionDir(DeviceWindows, "2024-01-06")
			mid := keys(t, s, dir)
			var nMan, nComp, nPart int
			for _, k := range mid {
				switch parseName(baseName(k)).kind {
				case kindManifest:
					nMan++
				case kindCompacted:
					nComp++
				case kindPart:
					nPart++
				}
			}
			if nMan != 1 || nComp != 2 || nPart != 8 {
				t.Fatalf("after the crash: %v", mid)
			}
			if tc.damage != nil {
				tc.damage(t, s)
			}
			res, err := Compact(ctx, CompactConfig{Store: s})
			if err != nil {
				t.Fatal(err)
			}
			var recovered []string
			for _, r := range res {
				recovered = append(recovered, r.Recovered...)
			}
			if len(recovered) != 1 || !strings.HasPrefix(recovered[0], tc.recovery) {
				t.Fatalf("recovered %v, want %s", recovered, tc.recovery)
			}
			sameSnapshot(t, "after recovery", snapshot(t, s), want)
		})
	}
}

// TestCompactSkipsUncommitted: compaction takes only published files of
// committed batches. A batch in flight is staged, out of sight; a part file
// at or above its checkpoint (what a lake-writer before staging published
// early) and a committed file whose staged copy still exists (an object
// store's copy done, its delete not) are left alone, on every store.
func TestCompactSkipsUncommitted(t *testing.T) {
	ctx := context.Background()
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			correctedLake(t, s, Format{})
			inflight := deviceBatch(4, devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0.Add(-8*time.Hour), 9, 1, 1))
			crash := errors.New("crash")
			if _, _, err := writeBatch(ctx, s, DeviceWindows, span{Topic: "dev", First: 4, Last: 4}, inflight, Format{}, batchHooks{afterData: func() error { return crash }}); !errors.Is(err, crash) {
				t.Fatal(err)
			}
			dir := partitionDir(DeviceWindows, "2024-01-06")
			early := dir + partName(span{Topic: "dev", Partition: 1, First: 3, Last: 3}, ExtParquet)
			if err := s.put(ctx, early, func(w io.Writer) error { _, err := w.Write([]byte("not committed")); return err }); err != nil {
				t.Fatal(err)
			}
			// Partition 0's second batch, published, with its staged
			// Parquet copy back as if the delete had not happened.
			twin := dir + partName(span{Topic: "dev", Partition: 0, First: 2, Last: 3}, ExtParquet)
			data, err := s.read(ctx, twin)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.put(ctx, stagedKey(twin), func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
				t.Fatal(err)
			}
			if _, err := Compact(ctx, CompactConfig{Store: s}); err != nil {
				t.Fatal(err)
			}
			var left []string
			for _, k := range keys(t, s, dir) {
				if parseName(baseName(k)).kind == kindPart {
					left = append(left, k)
				}
			}
			if want := []string{twin, early}; !reflect.DeepEqual(left, want) {
				t.Fatalf("part files after compaction:\n%s\nwant\n%s", strings.Join(left, "\n"), strings.Join(want, "\n"))
			}
			staged := keys(t, s, stagedKey(dir))
			if len(staged) != 3 { // the in-flight batch's CSV and Parquet, the twin
				t.Fatalf("staged files after compaction: %v", staged)
			}

			// Recovery deletes the twin's staged copy (copying nothing) and
			// the in-flight batch; the next compaction takes the twin.
			res, err := recoverPartitions(ctx, s, DeviceWindows, "dev", []int32{0}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if r := res[0]; r.next != 4 || len(r.removed) != 2 || !reflect.DeepEqual(r.published, []string{twin}) {
				t.Fatalf("recover = %+v", r)
			}
			if staged := keys(t, s, stagedKey(dir)); len(staged) != 0 {
				t.Fatalf("staged files after recovery: %v", staged)
			}
			if err := s.remove(ctx, early); err != nil {
				t.Fatal(err)
			}
			if _, err := Compact(ctx, CompactConfig{Store: s}); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys(t, s, dir) {
				if parseName(baseName(k)).kind == kindPart {
					t.Errorf("left after the second compaction: %s", k)
				}
			}
			if _, err := Compact(ctx, CompactConfig{Store: s, Dates: []string{"2024-13-01"}}); err == nil {
				t.Fatal("a bad date was accepted")
			}
		})
	}
}
