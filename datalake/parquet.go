package datalake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/turnstile-streams/turnstile/schemas"
)

// RowGroupRows caps the rows of one Parquet row group. A device row is
// about 150 bytes before compression, so a full group is about 40 MB in
// memory while written and a few MB compressed: large enough for efficient
// scans, small enough for a 2-core box. Batch files (at most --flush-records
// rows, 100,000 by default) are a single row group.
const RowGroupRows = 256 * 1024

// DeviceRow and StationRow, the Parquet rows, are generated from the
// records' declarations in schemas (window_gen.go, by
// schemas/internal/recordgen), with the CSV layouts: a row's columns are
// the CSV columns, then the record's other fields.

// NewDeviceRow converts a device window.
func NewDeviceRow(w *schemas.DeviceWindow) DeviceRow { return deviceRow(w) }

// NewStationRow converts a station window, with DATE and TIME its end's
// local date and clock in zone (nil: UTC; a device window has its own).
func NewStationRow(w *schemas.StationWindow, zone *time.Location) StationRow {
	date, clock := schemas.WindowEndFields(w.End, zone)
	return stationRow(w, date, clock)
}

// csvFields returns the row's device CSV fields.
func (r *DeviceRow) csvFields(dst []string) []string {
	w := r.window()
	return deviceCSVFields(&w, dst)
}

// csvFields returns the row's station CSV fields, with the row's DATE and
// TIME (written in the writer's zone).
func (r *StationRow) csvFields(dst []string) []string {
	w := r.window()
	return stationCSVFields(&w, r.Date, r.Time, dst)
}

// windowKey identifies the window of a row: a device window by its
// station, line and device (a device reporting under a new STATION or
// LINENAME is a new series, whose window may share the sink topic's key
// CA|UNIT|SCP|START with the old one's) and START; a station window by its
// sink key.
func (r *DeviceRow) windowKey() string {
	return schemas.ReadingKey(r.Station, r.LineName, r.CA, r.Unit, r.SCP) + schemas.KeySeparator + r.Start.UTC().Format(schemas.WindowKeyTime)
}

func (r *StationRow) windowKey() string {
	return schemas.StationWindowKey(schemas.StationKey(r.Station, r.LineName), r.Start)
}

func (r *DeviceRow) version() (int32, int32)  { return r.Generation, r.Revision }
func (r *StationRow) version() (int32, int32) { return r.Generation, r.Revision }

// Metadata keys written into every Parquet file's key-value metadata.
const (
	MetaTopic     = "turnstile.topic"
	MetaPartition = "turnstile.partition"
	MetaOffsets   = "turnstile.offsets" // "<first>-<last>", of the batch
	MetaInputs    = "turnstile.compacted_inputs"
)

// writeParquet writes rows as one Parquet file (zstd, dictionary-encoded
// strings, row groups of at most RowGroupRows rows).
func writeParquet[R any](w io.Writer, rows []R, meta map[string]string) error {
	opts := []parquet.WriterOption{
		parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(RowGroupRows),
		parquet.CreatedBy("turnstile lake", "", ""),
	}
	for _, k := range sortedKeys(meta) {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	pw := parquet.NewGenericWriter[R](w, opts...)
	for len(rows) > 0 {
		n, err := pw.Write(rows)
		if err != nil {
			return fmt.Errorf("datalake: parquet: %w", err)
		}
		rows = rows[n:]
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("datalake: parquet: %w", err)
	}
	return nil
}

// readParquet reads every row of a Parquet file. parquet-go panics on some
// malformed input; that becomes an error here.
func readParquet[R any](data []byte) (_ []R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("datalake: parquet: malformed file: %v", p)
		}
	}()
	if _, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data))); err != nil {
		return nil, fmt.Errorf("datalake: parquet: %w", err)
	}
	r := parquet.NewGenericReader[R](bytes.NewReader(data))
	defer r.Close()
	out := make([]R, r.NumRows())
	n := 0
	for n < len(out) {
		k, err := r.Read(out[n:])
		n += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("datalake: parquet: %w", err)
		}
		if k == 0 {
			break
		}
	}
	if n != len(out) {
		return nil, fmt.Errorf("datalake: parquet: read %d of %d rows", n, len(out))
	}
	return out, nil
}
