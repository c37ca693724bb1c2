package datalake

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	// klauspost's deflate at the standard library's default level: on MTA
	// rows 3.7x as fast and 7 % smaller (docs/benchmarks.md).
	"github.com/klauspost/compress/gzip"
)

// DeviceCSVColumns returns the columns of a device-window CSV file after
// the optional unnamed index column: the warehouse's layout, the MTA weekly
// files' layout.
func DeviceCSVColumns() []string { return append([]string(nil), deviceCSVColumns...) }

// StationCSVColumns returns the columns of a station-window CSV file after
// the optional index column. DATE and TIME are the window end, as for
// devices.
func StationCSVColumns() []string { return append([]string(nil), stationCSVColumns...) }

// The columns (deviceCSVColumns, stationCSVColumns) and the fields of a
// window's row (deviceCSVFields, stationCSVFields) are generated from the
// records' declarations in schemas (window_gen.go).

// csvEncoder writes rows the way pandas' DataFrame.to_csv does by default:
// comma-separated, "\n" line ends, minimal quoting (a field is quoted only
// when it contains a comma, a double quote, "\r" or "\n"; quotes inside are
// doubled), and an unnamed leading index column 0..n-1 when index is set.
//
// encoding/csv differs from pandas in two corner cases (it also quotes a
// field that starts with a space, and the field `\.`), hence this writer.
type csvEncoder struct {
	w     io.Writer
	index bool
	n     int
	buf   []byte
}

func newCSVEncoder(w io.Writer, index bool, header []string) (*csvEncoder, error) {
	e := &csvEncoder{w: w, index: index}
	e.buf = e.buf[:0]
	if index {
		e.buf = append(e.buf, ',') // the index column has no name
	}
	e.buf = appendFields(e.buf, header)
	if _, err := e.w.Write(e.buf); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *csvEncoder) write(fields []string) error {
	e.buf = e.buf[:0]
	if e.index {
		e.buf = strconv.AppendInt(e.buf, int64(e.n), 10)
		e.buf = append(e.buf, ',')
	}
	e.n++
	e.buf = appendFields(e.buf, fields)
	_, err := e.w.Write(e.buf)
	return err
}

func appendFields(b []byte, fields []string) []byte {
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		if needsQuotes(f) {
			b = append(b, '"')
			b = append(b, strings.ReplaceAll(f, `"`, `""`)...)
			b = append(b, '"')
		} else {
			b = append(b, f...)
		}
	}
	return append(b, '\n')
}

// needsQuotes reports whether a field has a comma, a double quote or a line
// end, which pandas' minimal quoting quotes. It is strings.ContainsAny
// without the set built per call: the CSV's hottest loop.
func needsQuotes(f string) bool {
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}

// gzipWriters keeps deflate encoders between files: a new one allocates
// its tables (~0.5 MB), more than a lake file of a few thousand rows
// costs to compress.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
	return zw
}}

// writeCSVGz writes a gzip-compressed CSV file: header, then rows. The
// gzip header carries no name and no modification time, so equal rows give
// equal bytes.
func writeCSVGz(w io.Writer, index bool, header []string, n int, row func(i int, dst []string) []string) error {
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(w)
	defer gzipWriters.Put(zw)
	enc, err := newCSVEncoder(zw, index, header)
	if err != nil {
		return err
	}
	var fields []string
	for i := 0; i < n; i++ {
		fields = row(i, fields)
		if err := enc.write(fields); err != nil {
			return err
		}
	}
	return zw.Close()
}

// csvFile is a parsed lake CSV file.
type csvFile struct {
	header []string   // without the index column
	index  bool       // the file has the leading index column
	rows   [][]string // without the index column
}

// readCSVGz parses a gzip CSV file written by writeCSVGz (or by pandas).
func readCSVGz(data []byte) (*csvFile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("datalake: gzip: %w", err)
	}
	defer zr.Close()
	r := csv.NewReader(zr)
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("datalake: CSV file without a header")
		}
		return nil, fmt.Errorf("datalake: CSV header: %w", err)
	}
	f := &csvFile{header: header}
	if len(header) > 0 && header[0] == "" {
		f.index, f.header = true, header[1:]
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("datalake: CSV: %w", err)
		}
		if f.index {
			rec = rec[1:]
		}
		f.rows = append(f.rows, rec)
	}
	return f, nil
}

// csvIdentity returns the indexes of the columns that identify a window in
// a CSV layout: the device (or station) and the window end.
func csvIdentity(ds Dataset, header []string) ([]int, error) {
	want := deviceCSVColumns
	id := []string{"CA", "UNIT", "SCP", "DATE", "TIME"}
	if ds == StationWindows {
		want, id = stationCSVColumns, []string{"STATION", "LINENAME", "DATE", "TIME"}
	}
	if strings.Join(header, ",") != strings.Join(want, ",") {
		return nil, fmt.Errorf("datalake: CSV header %q is not the %s layout %q", strings.Join(header, ","), ds, strings.Join(want, ","))
	}
	pos := map[string]int{}
	for i, h := range header {
		pos[h] = i
	}
	out := make([]int, len(id))
	for i, c := range id {
		out[i] = pos[c]
	}
	return out, nil
}
