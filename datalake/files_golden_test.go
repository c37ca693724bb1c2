package datalake

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/schemas"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestLakeFilesGolden: the files the writer and the compaction write, for
// the golden windows in UTC and in New York and for a lake with
// corrections, are byte for byte those in testdata/lake/ (CSV files
// decompressed, so that they can be read), captured before the window
// records were derived from their one declaration. The Parquet files are
// compared as they are: any change of column, order, type, encoding or
// compression shows.
func TestLakeFilesGolden(t *testing.T) {
	ctx := context.Background()
	got := map[string][]byte{}
	collect := func(t *testing.T, s *Store, prefix string) {
		for _, k := range keys(t, s, "") {
			if strings.Contains(k, "/"+checkpointDir+"/") || strings.Contains(k, "/"+stagingDir+"/") {
				continue
			}
			data, err := s.read(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			name := prefix + "/" + k
			if strings.HasSuffix(k, ExtCSV) {
				data, name = gunzip(t, data), strings.TrimSuffix(name, ".gz")
			}
			got[name] = data
		}
	}

	written, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ny := Format{zone: schemas.DefaultLocation()}
	mustWrite(t, written, DeviceWindows, "dev", 0, deviceBatch(0, goldenDevices()...), Format{})
	mustWrite(t, written, StationWindows, "st", 0, stationBatch(0, goldenStations()...), Format{})
	mustWrite(t, written, DeviceWindows, "dev-ny", 0, deviceBatch(0, inZone(goldenDevices(), ny.zone)...), ny)
	mustWrite(t, written, StationWindows, "st-ny", 0, stationBatch(0, goldenStations()...), ny)
	collect(t, written, "written")

	compacted, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	correctedLake(t, compacted, Format{})
	if _, err := Compact(ctx, CompactConfig{Store: compacted}); err != nil {
		t.Fatal(err)
	}
	collect(t, compacted, "compacted")

	dir := filepath.Join("testdata", "lake")
	if *updateGolden {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for name, data := range got {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		want[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: not written", name)
		case !bytes.Equal(g, w):
			t.Errorf("%s differs from testdata/lake/%s (%d bytes, want %d)", name, name, len(g), len(w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: written, not in testdata/lake", name)
		}
	}
}
