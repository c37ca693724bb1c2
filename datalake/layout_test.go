package datalake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/schemas"
)

func TestNames(t *testing.T) {
	sp := span{Topic: "mta-turnstile-windows", Partition: 12, First: 7, Last: 1234567}
	cases := []struct {
		base string
		want fileName
	}{
		{partName(sp, ExtCSV), fileName{kind: kindPart, span: sp, ext: ExtCSV}},
		{partName(sp, ExtParquet), fileName{kind: kindPart, span: sp, ext: ExtParquet}},
		{partName(sp, extRejected), fileName{kind: kindPart, span: sp, ext: extRejected}},
		{"." + partName(sp, ExtParquet) + ".tmp-0a1b2c", fileName{kind: kindPart, span: sp, ext: ExtParquet, temp: true}},
		{partName(sp, ExtCSV) + ".18a2f3.tmp", fileName{kind: kindPart, span: sp, ext: ExtCSV, temp: true}},
		{"compacted-0123456789abcdef.parquet", fileName{kind: kindCompacted, hash: "0123456789abcdef", ext: ExtParquet}},
		{"_compaction-0123456789abcdef.json", fileName{kind: kindManifest, hash: "0123456789abcdef", ext: extJSON}},
		{"part-x-1-2-3.parquet", fileName{}},                                      // offsets not padded
		{"part-0-00000000000000000001-00000000000000000002.csv.gz", fileName{}},   // no topic
		{"part-t-0-00000000000000000009-00000000000000000002.csv.gz", fileName{}}, // last < first
		{"data.parquet", fileName{}},
		{"part-t-0-00000000000000000001-00000000000000000002.csv", fileName{}},
	}
	for _, tc := range cases {
		if got := parseName(tc.base); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseName(%q) = %+v, want %+v", tc.base, got, tc.want)
		}
	}
	// Names sort by offset.
	a := partName(span{Topic: "t", First: 9, Last: 99}, ExtCSV)
	b := partName(span{Topic: "t", First: 100, Last: 100}, ExtCSV)
	if a >= b {
		t.Errorf("%s sorts after %s", a, b)
	}
	if got := checkpointKey(DeviceWindows, "t", 3); got != "device-windows/_checkpoints/t-3.json" {
		t.Errorf("checkpointKey = %s", got)
	}
}

// TestLayout writes batches to every store kind and checks the exact keys,
// the recovery of a crashed batch and a compaction.
func TestLayout(t *testing.T) {
	ctx := context.Background()
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			devs := goldenDevices()
			mustWrite(t, s, DeviceWindows, "dev", 0, deviceBatch(0, devs...), Format{})
			b := stationBatch(10, goldenStations()...)
			b.add(14, 3)
			b.rejected = append(b.rejected, newRejected("st", 2, 14, t0, []byte("k"), []byte{1, 2, 3}, "magic-byte", errors.New("bad magic")))
			mustWrite(t, s, StationWindows, "st", 2, b, Format{NoParquet: true})

			want := []string{
				"device-windows/_checkpoints/dev-0.json",
				"device-windows/dt=2024-01-06/part-dev-0-00000000000000000000-00000000000000000006.csv.gz",
				"device-windows/dt=2024-01-06/part-dev-0-00000000000000000000-00000000000000000006.parquet",
				"device-windows/dt=2024-01-07/part-dev-0-00000000000000000000-00000000000000000006.csv.gz",
				"device-windows/dt=2024-01-07/part-dev-0-00000000000000000000-00000000000000000006.parquet",
				"station-windows/_checkpoints/st-2.json",
				"station-windows/_rejected/part-st-2-00000000000000000010-00000000000000000014.jsonl",
				"station-windows/dt=2024-01-06/part-st-2-00000000000000000010-00000000000000000014.csv.gz",
				"station-windows/dt=2024-01-07/part-st-2-00000000000000000010-00000000000000000014.csv.gz",
			}
			if got := keys(t, s, ""); !reflect.DeepEqual(got, want) {
				t.Fatalf("keys:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			rej, err := s.read(ctx, want[6])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(rej), `"offset":14`) || !strings.Contains(string(rej), `"value_base64":"AQID"`) || !strings.Contains(string(rej), `"reason":"magic-byte"`) {
				t.Errorf("rejected file: %s", rej)
			}

			// A crash after the data files of batch 7..8, before its
			// checkpoint: they are staged, not visible; recovery removes
			// them, and resumes at 7.
			crashed := deviceBatch(7, devWin("A002", "R051", "02-00-00", "59 ST", "NQR456W", t0.Add(-8*3600e9), 2, 121, 80))
			sp := span{Topic: "dev", Partition: 0, First: 7, Last: 8}
			crashed.add(8, 1)
			if _, committed, err := writeBatch(ctx, s, DeviceWindows, sp, crashed, Format{}, batchHooks{afterData: func() error { return errCrash }}); !errors.Is(err, errCrash) || committed {
				t.Fatalf("writeBatch: %v (committed %v)", err, committed)
			}
			orphans := []string{
				"device-windows/_staging/dt=2024-01-06/part-dev-0-00000000000000000007-00000000000000000008.csv.gz",
				"device-windows/_staging/dt=2024-01-06/part-dev-0-00000000000000000007-00000000000000000008.parquet",
			}
			wantCrashed := append(append([]string(nil), orphans...), want...)
			sort.Strings(wantCrashed)
			if got := keys(t, s, ""); !reflect.DeepEqual(got, wantCrashed) {
				t.Fatalf("keys after the simulated crash:\n%s\nwant the staged files and:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// A file of partition 1 at the same offsets is not partition 0's.
			other := "device-windows/dt=2024-01-06/part-dev-1-00000000000000000007-00000000000000000008.parquet"
			if err := s.put(ctx, other, func(w io.Writer) error { _, err := w.Write([]byte("x")); return err }); err != nil {
				t.Fatal(err)
			}
			// And a checkpoint write that crashed before its rename, of
			// this partition and of another one.
			tmpCP := "device-windows/_checkpoints/.dev-0.json.tmp-abcdef"
			otherCP := "device-windows/_checkpoints/.dev-1.json.tmp-abcdef"
			for _, k := range []string{tmpCP, otherCP} {
				if err := s.put(ctx, k, func(w io.Writer) error { _, err := w.Write([]byte("{")); return err }); err != nil {
					t.Fatal(err)
				}
			}
			res, err := recoverPartitions(ctx, s, DeviceWindows, "dev", []int32{0}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if r := res[0]; r.next != 7 || !reflect.DeepEqual(r.removed, orphans) {
				t.Fatalf("recover = %+v, want next 7 and removed %v", r, orphans)
			}
			after := keys(t, s, "")
			for _, k := range orphans {
				if contains(after, k) {
					t.Errorf("%s survived recovery", k)
				}
			}
			if !contains(after, other) || !contains(after, want[1]) {
				t.Errorf("recovery removed committed or foreign files: %v", after)
			}
			if contains(after, tmpCP) || !contains(after, otherCP) {
				t.Errorf("temporary checkpoints after recovery: %v", after)
			}
			for _, k := range []string{other, otherCP} {
				if err := s.remove(ctx, k); err != nil {
					t.Fatal(err)
				}
			}

			// A partition without a checkpoint starts from scratch.
			res, err = recoverPartitions(ctx, s, DeviceWindows, "dev", []int32{5}, testLogger(t))
			if err != nil || res[5].next != -1 {
				t.Fatalf("recover of a new partition = %+v, %v", res, err)
			}

			// Compaction: one file per format per date.
			results, err := Compact(ctx, CompactConfig{Store: s})
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 4 {
				t.Fatalf("%d partitions compacted, want 4: %+v", len(results), results)
			}
			var compacted []string
			for _, k := range keys(t, s, "") {
				if strings.Contains(k, "/dt=") {
					compacted = append(compacted, k)
					if !strings.Contains(k, "/"+compactedPrefix) {
						t.Errorf("left after compaction: %s", k)
					}
				}
			}
			if len(compacted) != 6 { // devices: 2 dates x 2 formats; stations: 2 dates x CSV
				t.Errorf("compacted files: %v", compacted)
			}
			if !contains(keys(t, s, ""), want[0]) || !contains(keys(t, s, ""), want[6]) {
				t.Errorf("compaction removed a checkpoint or rejected file")
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestOpen checks the locations Open accepts and that fileblob leaves no
// sidecar or temporary files in the lake.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustWrite(t, s, DeviceWindows, "dev", 0, deviceBatch(0, goldenDevices()[:2]...), Format{})
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Errorf("files on disk: %v (want 2 data files and a checkpoint, no .attrs or .tmp)", files)
	}

	rel := filepath.Join(t.TempDir(), "sub", "lake")
	if _, err := Open(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(rel); err != nil || !st.IsDir() {
		t.Errorf("Open did not create %s: %v", rel, err)
	}
	m, err := Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	for _, bad := range []string{"", "nosuch://bucket/x", "s3://bucket/a?prefix=b"} {
		if _, err := Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

func TestStorePutIsAtomic(t *testing.T) {
	ctx := context.Background()
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			key := "device-windows/dt=2024-01-06/x.parquet"
			failing := errors.New("half-way")
			err := s.put(ctx, key, func(w io.Writer) error {
				if _, err := w.Write(make([]byte, 1<<20)); err != nil {
					return err
				}
				return failing
			})
			if !errors.Is(err, failing) {
				t.Fatalf("put: %v", err)
			}
			if got := keys(t, s, ""); len(got) != 0 {
				t.Fatalf("a failed write left %v", got)
			}
			if _, err := s.read(ctx, key); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("read of a missing key: %v", err)
			}
			if err := s.remove(ctx, key); err != nil {
				t.Fatalf("remove of a missing key: %v", err)
			}
		})
	}
}

// devicesOf returns the sink-level truth of windows: the newest version per
// window key.
func newestDevices(ws []schemas.DeviceWindow) map[string]schemas.DeviceWindow {
	out := map[string]schemas.DeviceWindow{}
	for _, w := range ws {
		r := NewDeviceRow(&w)
		k := r.windowKey()
		if cur, ok := out[k]; ok && (cur.Generation > w.Generation || (cur.Generation == w.Generation && cur.Revision > w.Revision)) {
			continue
		}
		out[k] = w
	}
	return out
}

var errCrash = errors.New("crash")

// TestRecoveryPublishesCommitted: a crash after a batch's checkpoint,
// while its files are being published, leaves the published ones whole and
// the rest staged; readers never see a file of a batch that is not
// committed. Recovery publishes the rest, byte for byte what a directory
// lake holds, and nothing twice.
func TestRecoveryPublishesCommitted(t *testing.T) {
	ctx := context.Background()
	ref, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := deviceBatch(0, goldenDevices()...)
	mustWrite(t, ref, DeviceWindows, "dev", 0, b, Format{})
	want := snapshot(t, ref)

	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			sp := span{Topic: "dev", Partition: 0, First: b.first, Last: b.last}
			var published int
			files, committed, err := writeBatch(ctx, s, DeviceWindows, sp, b, Format{}, batchHooks{beforePublish: func(string) error {
				if published == 2 {
					return errCrash
				}
				published++
				return nil
			}})
			if !errors.Is(err, errCrash) || !committed || len(files) != 4 {
				t.Fatalf("writeBatch: %d files, committed %v, %v", len(files), committed, err)
			}
			var visible, staged []string
			for _, k := range keys(t, s, "") {
				switch _, dir, _ := splitKey(k); {
				case strings.HasPrefix(dir, stagingDir+"/"):
					staged = append(staged, k)
				case strings.HasPrefix(dir, datePartitionName):
					visible = append(visible, k)
				}
			}
			if len(visible) != 2 || len(staged) != 2 {
				t.Fatalf("after the crash: visible %v, staged %v", visible, staged)
			}
			for _, k := range visible {
				got, err := s.read(ctx, k)
				if err != nil || !bytes.Equal(got, want[k]) {
					t.Errorf("%s is not the whole file (%v)", k, err)
				}
			}
			res, err := recoverPartitions(ctx, s, DeviceWindows, "dev", []int32{0}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			if r := res[0]; r.next != b.last+1 || len(r.removed) != 0 || len(r.published) != 2 {
				t.Fatalf("recover = %+v", r)
			}
			// Again: nothing left to do.
			if res, err = recoverPartitions(ctx, s, DeviceWindows, "dev", []int32{0}, testLogger(t)); err != nil || len(res[0].published) != 0 {
				t.Fatalf("second recovery = %+v, %v", res, err)
			}
			sameSnapshot(t, "after recovery", snapshot(t, s), want)
		})
	}
}
