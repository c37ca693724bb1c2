package laketest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Compacted reads the compacted Parquet files of both datasets under dir,
// keyed like the sink topics (CA|UNIT|SCP|START, STATION|LINENAME|START),
// with totals, DESC, DEVICES, REVISION and GENERATION. An uncompacted file
// left over, a dataset without files or a window twice fails the test.
func Compacted(t testing.TB, dir string) (map[string]schemas.DeviceWindow, map[string]schemas.StationWindow) {
	t.Helper()
	devs := map[string]schemas.DeviceWindow{}
	for _, r := range rows[datalake.DeviceRow](t, dir, datalake.DeviceWindows) {
		key := schemas.DeviceWindowKey(schemas.DeviceKey(r.CA, r.Unit, r.SCP), r.Start)
		if _, dup := devs[key]; dup {
			t.Errorf("lake: device window %s twice after compaction", key)
		}
		devs[key] = schemas.DeviceWindow{Entries: r.Entries, Exits: r.Exits, Desc: r.Desc, Revision: r.Revision, Generation: r.Generation}
	}
	sts := map[string]schemas.StationWindow{}
	for _, r := range rows[datalake.StationRow](t, dir, datalake.StationWindows) {
		key := schemas.StationWindowKey(schemas.StationKey(r.Station, r.LineName), r.Start)
		if _, dup := sts[key]; dup {
			t.Errorf("lake: station window %s twice after compaction", key)
		}
		sts[key] = schemas.StationWindow{Entries: r.Entries, Exits: r.Exits, Devices: r.Devices, Revision: r.Revision, Generation: r.Generation}
	}
	return devs, sts
}

func rows[R any](t testing.TB, dir string, ds datalake.Dataset) []R {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, string(ds), "dt=*", "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no parquet files in %s (%v)", ds, err)
	}
	var out []R
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), "compacted-") {
			t.Fatalf("uncompacted file left: %s", f)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := parquet.Read[R](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, rs...)
	}
	return out
}
