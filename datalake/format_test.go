package datalake

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/turnstile-streams/turnstile/schemas"
)

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCSVGolden compares the decompressed CSV files of a batch with golden
// files written by pandas 1.5.3's DataFrame.to_csv (testdata/*.csv were
// generated with pandas from the same values, not with this package).
func TestCSVGolden(t *testing.T) {
	ctx := context.Background()
	ny := schemas.DefaultLocation()
	cases := []struct {
		name   string
		ds     Dataset
		b      *batch
		f      Format
		golden map[string]string // date -> golden file
	}{
		{"devices", DeviceWindows, deviceBatch(0, goldenDevices()...), Format{},
			map[string]string{"2024-01-06": "device-windows-2024-01-06.csv", "2024-01-07": "device-windows-2024-01-07.csv"}},
		{"devices without index", DeviceWindows, deviceBatch(0, goldenDevices()[:6]...), Format{NoCSVIndex: true},
			map[string]string{"2024-01-06": "device-windows-2024-01-06-noindex.csv"}},
		{"stations", StationWindows, stationBatch(0, goldenStations()...), Format{},
			map[string]string{"2024-01-06": "station-windows-2024-01-06.csv", "2024-01-07": "station-windows-2024-01-07.csv"}},
		// In New York (EST, UTC-5) the window ending at midnight UTC ends
		// at 19:00 the day before: one date partition, local clocks.
		{"devices in New York", DeviceWindows, deviceBatch(0, inZone(goldenDevices(), ny)...), Format{zone: ny},
			map[string]string{"2024-01-06": "device-windows-2024-01-06-new-york.csv"}},
		{"stations in New York", StationWindows, stationBatch(0, goldenStations()...), Format{zone: ny},
			map[string]string{"2024-01-06": "station-windows-2024-01-06-new-york.csv"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, s, tc.ds, "sink", 0, tc.b, tc.f)
			var csvs []string
			for _, k := range keys(t, s, string(tc.ds)+"/dt=") {
				if strings.HasSuffix(k, ExtCSV) {
					csvs = append(csvs, k)
				}
			}
			if len(csvs) != len(tc.golden) {
				t.Fatalf("CSV files %v, want one per date of %v", csvs, tc.golden)
			}
			for date, g := range tc.golden {
				key := partitionDir(tc.ds, date) + partName(span{Topic: "sink", First: tc.b.first, Last: tc.b.last}, ExtCSV)
				data, err := s.read(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(filepath.Join("testdata", g))
				if err != nil {
					t.Fatal(err)
				}
				if got := gunzip(t, data); !bytes.Equal(got, want) {
					t.Errorf("%s differs from testdata/%s:\n--- got\n%s--- want\n%s", key, g, got, want)
				}
			}
		})
	}
}

// TestCSVRoundTripsMTAFile re-encodes the first 300 rows of the MTA weekly
// file 240106.csv.gz (the warehouse's own input, written by pandas) and gets
// the same bytes.
func TestCSVRoundTripsMTAFile(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "mta-240106-head.csv"))
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(bytes.NewReader(want))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); got != ","+strings.Join(deviceCSVColumns, ",") {
		t.Fatalf("MTA header %q", got)
	}
	var buf bytes.Buffer
	for i := 1; i < len(recs); i++ {
		if recs[i][0] != strconv.Itoa(i-1) {
			t.Fatalf("row %d has index %s", i, recs[i][0])
		}
	}
	err = writeCSVGz(&buf, true, deviceCSVColumns, len(recs)-1, func(i int, dst []string) []string {
		rec := recs[i+1][1:]
		entries, _ := strconv.ParseInt(rec[9], 10, 64)
		exits, _ := strconv.ParseInt(rec[10], 10, 64)
		w := schemas.DeviceWindow{CA: rec[0], Unit: rec[1], SCP: rec[2], Station: rec[3], LineName: rec[4], Division: rec[5],
			Date: rec[6], Time: rec[7], Desc: rec[8], Entries: entries, Exits: exits}
		return deviceCSVFields(&w, dst)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := gunzip(t, buf.Bytes()); !bytes.Equal(got, want) {
		t.Fatalf("re-encoded MTA rows differ")
	}
	// And the lake's reader parses it back.
	f, err := readCSVGz(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !f.index || len(f.rows) != len(recs)-1 || strings.Join(f.header, ",") != strings.Join(deviceCSVColumns, ",") {
		t.Fatalf("readCSVGz: index %v, %d rows, header %v", f.index, len(f.rows), f.header)
	}
}

// TestParquetReadBack writes a batch and reads the Parquet files back with
// parquet-go's reader, checking the column types and every field.
func TestParquetReadBack(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	devs := goldenDevices()
	mustWrite(t, s, DeviceWindows, "mta-turnstile-windows", 3, deviceBatch(1000, devs...), Format{})
	sts := goldenStations()
	mustWrite(t, s, StationWindows, "mta-station-windows", 1, stationBatch(50, sts...), Format{})

	type colType struct {
		physical parquet.Kind
		logical  string
	}
	ts := colType{parquet.Int64, "TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)"}
	str := colType{parquet.ByteArray, "STRING"}
	i64 := colType{parquet.Int64, "INT(64,true)"}
	i32 := colType{parquet.Int32, "INT(32,true)"}
	wantTypes := map[Dataset]map[string]colType{
		DeviceWindows: {"CA": str, "UNIT": str, "SCP": str, "STATION": str, "LINENAME": str, "DIVISION": str, "DATE": str,
			"TIME": str, "DESC": str, "ENTRIES": i64, "EXITS": i64, "START": ts, "END": ts, "REVISION": i32, "GENERATION": i32, "EMITTED_AT": ts},
		StationWindows: {"STATION": str, "LINENAME": str, "DIVISION": str, "DATE": str, "TIME": str, "ENTRIES": i64, "EXITS": i64,
			"DEVICES": i32, "START": ts, "END": ts, "REVISION": i32, "GENERATION": i32, "EMITTED_AT": ts},
	}
	checkFile := func(t *testing.T, ds Dataset, key string, wantOffsets string) *parquet.File {
		data, err := s.read(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		want := wantTypes[ds]
		if len(f.Schema().Fields()) != len(want) {
			t.Errorf("%s: %d columns, want %d", key, len(f.Schema().Fields()), len(want))
		}
		for _, fld := range f.Schema().Fields() {
			w, ok := want[fld.Name()]
			if !ok {
				t.Errorf("%s: unexpected column %s", key, fld.Name())
				continue
			}
			got := colType{physical: fld.Type().Kind()}
			if lt := fld.Type().LogicalType(); lt != nil {
				got.logical = lt.String()
			}
			if got != w {
				t.Errorf("%s: column %s is %v, want %v", key, fld.Name(), got, w)
			}
			if fld.Optional() || fld.Repeated() {
				t.Errorf("%s: column %s is not required", key, fld.Name())
			}
		}
		for _, rg := range f.Metadata().RowGroups {
			for _, c := range rg.Columns {
				if c.MetaData.Codec != format.Zstd {
					t.Errorf("%s: column %v compressed with %v", key, c.MetaData.PathInSchema, c.MetaData.Codec)
				}
			}
		}
		if v, _ := f.Lookup(MetaOffsets); v != wantOffsets {
			t.Errorf("%s: %s = %q, want %q", key, MetaOffsets, v, wantOffsets)
		}
		return f
	}

	t.Run("devices", func(t *testing.T) {
		dir := partitionDir(DeviceWindows, "2024-01-06")
		key := dir + partName(span{Topic: "mta-turnstile-windows", Partition: 3, First: 1000, Last: 1006}, ExtParquet)
		checkFile(t, DeviceWindows, key, "1000-1006")
		data, _ := s.read(ctx, key)
		rows, err := parquet.Read[DeviceRow](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 6 {
			t.Fatalf("%d rows, want 6 (the 7th window ends on 2024-01-07)", len(rows))
		}
		for i, r := range rows {
			w := devs[i]
			checks := []struct {
				name      string
				got, want any
			}{
				{"CA", r.CA, w.CA}, {"UNIT", r.Unit, w.Unit}, {"SCP", r.SCP, w.SCP}, {"STATION", r.Station, w.Station},
				{"LINENAME", r.LineName, w.LineName}, {"DIVISION", r.Division, w.Division}, {"DATE", r.Date, w.Date},
				{"TIME", r.Time, w.Time}, {"DESC", r.Desc, w.Desc}, {"ENTRIES", r.Entries, w.Entries}, {"EXITS", r.Exits, w.Exits},
				{"START", r.Start.UnixMilli(), w.Start.UnixMilli()}, {"END", r.End.UnixMilli(), w.End.UnixMilli()},
				{"REVISION", r.Revision, w.Revision}, {"GENERATION", r.Generation, w.Generation},
				{"EMITTED_AT", r.EmittedAt.UnixMilli(), w.EmittedAt.UnixMilli()},
				{"START zone", r.Start.Location(), time.UTC},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("row %d %s = %v, want %v", i, c.name, c.got, c.want)
				}
			}
		}
	})
	t.Run("stations", func(t *testing.T) {
		key := partitionDir(StationWindows, "2024-01-06") + partName(span{Topic: "mta-station-windows", Partition: 1, First: 50, Last: 53}, ExtParquet)
		checkFile(t, StationWindows, key, "50-53")
		data, _ := s.read(ctx, key)
		rows, err := parquet.Read[StationRow](bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("%d rows, want 3", len(rows))
		}
		for i, r := range rows {
			w := sts[i]
			date, clock := schemas.WindowEndFields(w.End, nil)
			if r.Station != w.Station || r.LineName != w.LineName || r.Division != w.Division || r.Date != date || r.Time != clock ||
				r.Entries != w.Entries || r.Exits != w.Exits || r.Devices != w.Devices || !r.Start.Equal(w.Start) || !r.End.Equal(w.End) ||
				r.Revision != w.Revision || r.Generation != w.Generation || !r.EmittedAt.Equal(w.EmittedAt) {
				t.Errorf("row %d = %+v, want %+v", i, r, w)
			}
		}
	})
}

func TestParquetRowGroups(t *testing.T) {
	var buf bytes.Buffer
	rows := make([]DeviceRow, RowGroupRows+10)
	for i := range rows {
		w := devWin("A", "R", strconv.Itoa(i%50), "S", "L", t0.Add(time.Duration(i)*time.Minute), 1, int64(i), 0)
		rows[i] = NewDeviceRow(&w)
	}
	if err := writeParquet(&buf, rows, nil); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.RowGroups()); n != 2 {
		t.Fatalf("%d row groups for %d rows, want 2", n, len(rows))
	}
	back, err := readParquet[DeviceRow](buf.Bytes())
	if err != nil || len(back) != len(rows) || back[len(rows)-1].Entries != int64(len(rows)-1) {
		t.Fatalf("read back %d rows, err %v", len(back), err)
	}
	if _, err := readParquet[DeviceRow]([]byte("PAR1 not really")); err == nil {
		t.Fatal("a malformed file read without error")
	}
}

// TestNeedsQuotes: the CSV's quoting check quotes exactly what pandas'
// minimal quoting does (a comma, a double quote, a line end).
func TestNeedsQuotes(t *testing.T) {
	for _, f := range []string{"", "59 ST", "SOUTH FERRY, WHITEHALL", `INWOOD "207" ST`, "LINE\nBREAK", "CR\rONLY",
		" 8 AV", "ÉTÉ", "tab\there", ",", `"`} {
		if got, want := needsQuotes(f), strings.ContainsAny(f, ",\"\r\n"); got != want {
			t.Errorf("needsQuotes(%q) = %v, want %v", f, got, want)
		}
	}
}

// TestBatchReuse: a partition's next batch reuses the committed one's
// slices, empty and without its windows, and its files hold only its own
// rows.
func TestBatchReuse(t *testing.T) {
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ws := goldenDevices()
	b := deviceBatch(0, ws...)
	mustWrite(t, s, DeviceWindows, "t", 0, b, Format{})
	capBefore := cap(b.devices)
	b.reset()
	if !b.empty() || len(b.devices) != 0 || cap(b.devices) != capBefore || b.bytes != 0 || b.rejected != nil {
		t.Fatalf("reset batch: %+v (cap %d, want %d)", b, cap(b.devices), capBefore)
	}
	if full := b.devices[:capBefore]; full[0].CA != "" {
		t.Fatalf("reset kept a window: %+v", full[0])
	}
	for i, w := range ws[:2] {
		b.add(int64(len(ws)+i), 100)
		b.devices = append(b.devices, w)
	}
	files := mustWrite(t, s, DeviceWindows, "t", 0, b, Format{})
	rows := 0
	for _, f := range files {
		if strings.HasSuffix(f.Key, ExtCSV) {
			rows += f.Rows
			if f.First != int64(len(ws)) || f.Last != int64(len(ws)+1) {
				t.Errorf("%s: offsets %d-%d, want %d-%d", f.Key, f.First, f.Last, len(ws), len(ws)+1)
			}
		}
	}
	if rows != 2 {
		t.Fatalf("second batch wrote %d CSV rows, want 2", rows)
	}
}
