package datalake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CompactConfig configures Compact.
type CompactConfig struct {
	// Store is the lake. Required.
	Store *Store
	// Dates (YYYY-MM-DD) are the date partitions to compact; empty means
	// every date partition that has something to compact.
	Dates []string
	// Datasets to compact; empty means all.
	Datasets []Dataset
	// Format.NoCSVIndex drops the index column of the compacted CSV (match
	// the writer's --csv-index). The formats compacted are those present
	// in the partition, whatever NoCSV and NoParquet say.
	Format Format
	// Logger receives a line per compacted partition; default: discard.
	Logger *slog.Logger

	// afterOutputs runs between writing the compacted files and deleting
	// the inputs; an error stops Compact there, as a crash would (tests).
	afterOutputs func() error
}

// Defaults fills zero fields.
func (c *CompactConfig) Defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate checks a CompactConfig: a store, dates as YYYY-MM-DD, known
// datasets.
func (c *CompactConfig) validate() error {
	if c.Store == nil {
		return errors.New("datalake: CompactConfig.Store is required")
	}
	for _, d := range c.Dates {
		if _, err := time.Parse(DateLayout, d); err != nil {
			return fmt.Errorf("datalake: date %q is not YYYY-MM-DD", d)
		}
	}
	for _, ds := range c.Datasets {
		if ds != DeviceWindows && ds != StationWindows {
			return fmt.Errorf("datalake: unknown dataset %q", ds)
		}
	}
	return nil
}

// CompactResult describes one compacted date partition.
type CompactResult struct {
	Dataset Dataset
	Date    string
	// Inputs are the files replaced (deleted), Outputs the files written,
	// OutputRows the rows of each output.
	Inputs     []string
	Outputs    []string
	OutputRows []int
	// Recovered lists what a crashed earlier compaction left and this run
	// finished ("rolled forward: ...") or undid ("rolled back: ...").
	Recovered []string
}

// manifest is written before a compaction's outputs and deleted after its
// inputs: while it exists, a reader can tell which files the outputs
// replace, and a re-run knows how to finish or undo the compaction.
type manifest struct {
	Dataset Dataset   `json:"dataset"`
	Date    string    `json:"date"`
	Inputs  []string  `json:"inputs"`
	Outputs []string  `json:"outputs"`
	Started time.Time `json:"started_at"`
}

// Compact rewrites date partitions so that each holds one file per format
// with only the newest version of every window: the highest GENERATION,
// then the highest REVISION, the later file and row on a tie. Readers that
// do not deduplicate then see exactly one row per window.
//
// For each partition it (1) writes _compaction-<hash>.json listing the
// inputs and outputs, (2) writes compacted-<hash>.parquet and
// compacted-<hash>.csv.gz atomically, (3) deletes the inputs and (4) the
// manifest; <hash> is derived from the input names, so a re-run over the
// same inputs produces the same names and bytes. A re-run after a crash
// finds the manifest and finishes the compaction when every output exists
// or removes the outputs and starts over when not. Only files of committed
// batches (below their partition's checkpoint) are inputs, so compaction
// may run while the writer runs; two compactions of the same lake must not
// run at once. A part file whose staged copy still exists is left for a
// later compaction (see writeBatch).
//
// The compacted CSV is rendered from the compacted Parquet rows when both
// formats have the same inputs (the default); a CSV without Parquet keeps
// the last occurrence of each window (CSV has no REVISION column), which
// is the newest because the emitter publishes a window's revisions in order
// to one partition.
func Compact(ctx context.Context, cfg CompactConfig) ([]CompactResult, error) {
	cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	datasets := cfg.Datasets
	if len(datasets) == 0 {
		datasets = Datasets()
	}
	var out []CompactResult
	for _, ds := range datasets {
		dates := cfg.Dates
		if len(dates) == 0 {
			var err error
			if dates, err = listDates(ctx, cfg.Store, ds); err != nil {
				return out, err
			}
		}
		cps, err := readCheckpoints(ctx, cfg.Store, ds)
		if err != nil {
			return out, err
		}
		for _, d := range dates {
			res, err := compactPartition(ctx, cfg, ds, d, cps)
			if err != nil {
				return out, err
			}
			if res != nil {
				out = append(out, *res)
			}
		}
	}
	return out, nil
}

// listDates returns the dates of a dataset's dt= directories.
func listDates(ctx context.Context, s *Store, ds Dataset) ([]string, error) {
	objs, err := s.list(ctx, string(ds)+"/"+datePartitionName)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, o := range objs {
		_, dir, _ := splitKey(o.Key)
		if d, ok := parseDateDir(dir); ok {
			seen[d] = true
		}
	}
	return sortedKeys(seen), nil
}

type input struct {
	key  string
	name fileName
	stem string
}

// compactPartition compacts one date partition of dataset ds (see
// Compact); cps are the dataset's checkpoints. The result is nil when there
// was nothing to do.
func compactPartition(ctx context.Context, cfg CompactConfig, ds Dataset, date string, cps map[string]map[int32]int64) (*CompactResult, error) {
	c := &partitionCompaction{cfg: cfg, s: cfg.Store, ds: ds, date: date, dir: partitionDir(ds, date), cps: cps,
		res: &CompactResult{Dataset: ds, Date: date}}
	objs, err := c.recover(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.selectInputs(ctx, objs); err != nil {
		return nil, err
	}
	if len(c.parquetIn) == 0 && len(c.csvIn) == 0 {
		if len(c.res.Recovered) > 0 {
			return c.res, nil
		}
		return nil, nil
	}
	manKey, err := c.writeManifest(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.compactParquet(ctx); err != nil {
		return nil, err
	}
	if err := c.compactCSV(ctx); err != nil {
		return nil, err
	}
	if cfg.afterOutputs != nil {
		if err := cfg.afterOutputs(); err != nil {
			return nil, err
		}
	}
	if err := c.replace(ctx, manKey); err != nil {
		return nil, err
	}
	cfg.Logger.Info("compacted", "dataset", ds, "date", date, "inputs", len(c.res.Inputs), "outputs", c.res.Outputs, "rows", c.res.OutputRows)
	return c.res, nil
}

// partitionCompaction is one run of compactPartition, its steps in order:
// recover, selectInputs, writeManifest, compactParquet, compactCSV,
// replace. Each fills in what the next reads.
type partitionCompaction struct {
	cfg  CompactConfig
	s    *Store
	ds   Dataset
	date string
	dir  string // the partition's directory: <dataset>/dt=<date>/
	cps  map[string]map[int32]int64
	res  *CompactResult

	// parquetIn and csvIn are the inputs of each format, oldest first
	// (none: that format needs no compaction); names their base names and
	// hash the outputs' name, derived from them.
	parquetIn, csvIn []input
	names            []string
	hash             string

	// The compacted Parquet rows (of the dataset's type), which the CSV is
	// rendered from when both formats have the same inputs.
	deviceRows  []DeviceRow
	stationRows []StationRow
}

// recover finishes or undoes what a crashed compaction left, and returns
// the partition's files as they are then.
func (c *partitionCompaction) recover(ctx context.Context) ([]object, error) {
	objs, err := c.s.list(ctx, c.dir)
	if err != nil {
		return nil, err
	}
	recovered := false
	for _, o := range objs {
		fn := parseName(baseName(o.Key))
		if fn.kind != kindManifest || fn.temp {
			continue
		}
		what, err := recoverManifest(ctx, c.s, o.Key, objs)
		if err != nil {
			return nil, err
		}
		c.res.Recovered = append(c.res.Recovered, what)
		c.cfg.Logger.Info("recovered a crashed compaction", "dataset", c.ds, "date", c.date, "manifest", o.Key, "action", what)
		recovered = true
	}
	if recovered {
		return c.s.list(ctx, c.dir)
	}
	return objs, nil
}

// unpublished returns the part files whose staged copy still exists: they
// are not published for good (an object store's copy done, its delete not,
// or a publish under way), and recovery would publish the staged copy
// again if compaction deleted the file. The next compaction takes them.
// Staging is listed after the partition, so a file whose staged copy is
// gone by now stays published.
func (c *partitionCompaction) unpublished(ctx context.Context) (map[string]bool, error) {
	staged, err := c.s.list(ctx, stagedKey(c.dir))
	if err != nil {
		return nil, err
	}
	unpublished := map[string]bool{}
	for _, o := range staged {
		if k, ok := finalKey(o.Key); ok {
			unpublished[k] = true
		}
	}
	return unpublished, nil
}

// selectInputs picks the inputs among objs: compacted files, and part
// files of committed and published batches. It removes the temporary file
// of a compaction write that crashed before its rename. A format whose
// only input is already compacted needs nothing.
func (c *partitionCompaction) selectInputs(ctx context.Context, objs []object) error {
	unpublished, err := c.unpublished(ctx)
	if err != nil {
		return err
	}
	for _, o := range objs {
		fn := parseName(baseName(o.Key))
		if fn.temp && fn.kind == kindCompacted {
			if err := c.s.remove(ctx, o.Key); err != nil {
				return err
			}
			continue
		}
		if fn.temp {
			continue
		}
		switch fn.kind {
		case kindPart:
			next, ok := c.cps[fn.span.Topic][fn.span.Partition]
			if !ok || fn.span.Last >= next || unpublished[o.Key] {
				continue // a batch in flight: not committed, or not published, yet
			}
		case kindCompacted:
		default:
			continue
		}
		in := input{key: o.Key, name: fn, stem: strings.TrimSuffix(baseName(o.Key), fn.ext)}
		switch fn.ext {
		case ExtParquet:
			c.parquetIn = append(c.parquetIn, in)
		case ExtCSV:
			c.csvIn = append(c.csvIn, in)
		}
	}
	needs := func(in []input) bool {
		return len(in) > 1 || (len(in) == 1 && in[0].name.kind != kindCompacted)
	}
	if !needs(c.parquetIn) {
		c.parquetIn = nil
	}
	if !needs(c.csvIn) {
		c.csvIn = nil
	}
	sortInputs(c.parquetIn)
	sortInputs(c.csvIn)
	for _, in := range append(append([]input(nil), c.parquetIn...), c.csvIn...) {
		c.names = append(c.names, baseName(in.key))
		c.res.Inputs = append(c.res.Inputs, in.key)
	}
	c.hash = inputsHash(c.names)
	return nil
}

// output is the key of the compacted file with extension ext.
func (c *partitionCompaction) output(ext string) string {
	return c.dir + compactedPrefix + c.hash + ext
}

// writeManifest writes the manifest that lists the inputs and the outputs
// and returns its key.
func (c *partitionCompaction) writeManifest(ctx context.Context) (string, error) {
	man := manifest{Dataset: c.ds, Date: c.date, Inputs: c.res.Inputs, Started: time.Now().UTC()}
	if len(c.parquetIn) > 0 {
		man.Outputs = append(man.Outputs, c.output(ExtParquet))
	}
	if len(c.csvIn) > 0 {
		man.Outputs = append(man.Outputs, c.output(ExtCSV))
	}
	manKey := c.dir + manifestPrefix + c.hash + extJSON
	data, err := json.MarshalIndent(&man, "", "  ")
	if err != nil {
		return "", fmt.Errorf("datalake: compaction manifest: %w", err)
	}
	if err := c.s.put(ctx, manKey, func(w io.Writer) error { _, err := w.Write(append(data, '\n')); return err }); err != nil {
		return "", err
	}
	return manKey, nil
}

// compactParquet merges the Parquet inputs into the compacted Parquet file,
// and keeps its rows for compactCSV.
func (c *partitionCompaction) compactParquet(ctx context.Context) error {
	if len(c.parquetIn) == 0 {
		return nil
	}
	key := c.output(ExtParquet)
	meta := map[string]string{MetaInputs: strings.Join(c.names, ",")}
	var n int
	var err error
	switch c.ds {
	case DeviceWindows:
		if c.deviceRows, err = mergeParquet[DeviceRow](ctx, c.s, c.parquetIn); err != nil {
			return err
		}
		n = len(c.deviceRows)
		err = c.s.put(ctx, key, func(w io.Writer) error { return writeParquet(w, c.deviceRows, meta) })
	case StationWindows:
		if c.stationRows, err = mergeParquet[StationRow](ctx, c.s, c.parquetIn); err != nil {
			return err
		}
		n = len(c.stationRows)
		err = c.s.put(ctx, key, func(w io.Writer) error { return writeParquet(w, c.stationRows, meta) })
	}
	if err != nil {
		return err
	}
	c.res.Outputs, c.res.OutputRows = append(c.res.Outputs, key), append(c.res.OutputRows, n)
	return nil
}

// compactCSV writes the compacted CSV: rendered from the compacted Parquet
// rows when both formats have the same inputs, else merged from the CSV
// inputs.
func (c *partitionCompaction) compactCSV(ctx context.Context) error {
	if len(c.csvIn) == 0 {
		return nil
	}
	key := c.output(ExtCSV)
	index := !c.cfg.Format.NoCSVIndex
	fromParquet := len(c.parquetIn) > 0 && sameStems(c.parquetIn, c.csvIn)
	var n int
	var err error
	switch {
	case fromParquet && c.ds == DeviceWindows:
		n = len(c.deviceRows)
		err = c.s.put(ctx, key, func(w io.Writer) error {
			return writeCSVGz(w, index, deviceCSVColumns, n, func(i int, dst []string) []string { return c.deviceRows[i].csvFields(dst) })
		})
	case fromParquet && c.ds == StationWindows:
		n = len(c.stationRows)
		err = c.s.put(ctx, key, func(w io.Writer) error {
			return writeCSVGz(w, index, stationCSVColumns, n, func(i int, dst []string) []string { return c.stationRows[i].csvFields(dst) })
		})
	default:
		header, rows, merr := mergeCSV(ctx, c.s, c.ds, c.csvIn)
		if merr != nil {
			return merr
		}
		n = len(rows)
		err = c.s.put(ctx, key, func(w io.Writer) error {
			return writeCSVGz(w, index, header, n, func(i int, dst []string) []string { return append(dst[:0], rows[i]...) })
		})
	}
	if err != nil {
		return err
	}
	c.res.Outputs, c.res.OutputRows = append(c.res.Outputs, key), append(c.res.OutputRows, n)
	return nil
}

// replace deletes the inputs, then the manifest: the compaction is done.
func (c *partitionCompaction) replace(ctx context.Context, manKey string) error {
	for _, k := range c.res.Inputs {
		if err := c.s.remove(ctx, k); err != nil {
			return err
		}
	}
	return c.s.remove(ctx, manKey)
}

// recoverManifest finishes a compaction whose outputs all exist (deleting
// its remaining inputs) or undoes one whose outputs do not (deleting those
// that exist), then deletes the manifest.
func recoverManifest(ctx context.Context, s *Store, key string, objs []object) (string, error) {
	data, err := s.read(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return "gone", nil
	}
	if err != nil {
		return "", err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("datalake: compaction manifest %s: %w", key, err)
	}
	exists := map[string]bool{}
	for _, o := range objs {
		exists[o.Key] = true
	}
	complete := len(m.Outputs) > 0
	for _, o := range m.Outputs {
		complete = complete && exists[o]
	}
	var what string
	if complete {
		what = "rolled forward: deleted the inputs of " + strings.Join(m.Outputs, ", ")
		for _, in := range m.Inputs {
			if err := s.remove(ctx, in); err != nil {
				return "", err
			}
		}
	} else {
		what = "rolled back: deleted the incomplete outputs"
		for _, o := range m.Outputs {
			if err := s.remove(ctx, o); err != nil {
				return "", err
			}
		}
	}
	if err := s.remove(ctx, key); err != nil {
		return "", err
	}
	return what, nil
}

// sortInputs orders inputs oldest first: compacted files (which hold what
// was compacted before), then part files by topic, partition and offset.
func sortInputs(in []input) {
	sort.Slice(in, func(i, j int) bool {
		a, b := in[i].name, in[j].name
		if (a.kind == kindCompacted) != (b.kind == kindCompacted) {
			return a.kind == kindCompacted
		}
		if a.kind == kindCompacted {
			return in[i].key < in[j].key
		}
		if a.span.Topic != b.span.Topic {
			return a.span.Topic < b.span.Topic
		}
		if a.span.Partition != b.span.Partition {
			return a.span.Partition < b.span.Partition
		}
		return a.span.First < b.span.First
	})
}

func sameStems(a, b []input) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].stem != b[i].stem {
			return false
		}
	}
	return true
}

// versioned is a Parquet row with a window identity and a version.
type versioned interface {
	DeviceRow | StationRow
}

type rowPtr[R versioned] interface {
	*R
	windowKey() string
	version() (generation, revision int32)
}

// mergeParquet reads inputs (oldest first) and keeps the newest version of
// each window, sorted by window key.
func mergeParquet[R versioned, P rowPtr[R]](ctx context.Context, s *Store, inputs []input) ([]R, error) {
	best := map[string]R{}
	for _, in := range inputs {
		data, err := s.read(ctx, in.key)
		if err != nil {
			return nil, err
		}
		rows, err := readParquet[R](data)
		if err != nil {
			return nil, fmt.Errorf("datalake: %s: %w", in.key, err)
		}
		for _, r := range rows {
			k := P(&r).windowKey()
			if cur, ok := best[k]; ok {
				cg, cr := P(&cur).version()
				g, rv := P(&r).version()
				if g < cg || (g == cg && rv < cr) {
					continue
				}
			}
			best[k] = r
		}
	}
	keys := sortedKeys(best)
	out := make([]R, len(keys))
	for i, k := range keys {
		out[i] = best[k]
	}
	return out, nil
}

// mergeCSV reads CSV inputs (oldest first) and keeps the last row of each
// window, sorted by the window's identity columns.
func mergeCSV(ctx context.Context, s *Store, ds Dataset, inputs []input) ([]string, [][]string, error) {
	var header []string
	var idCols []int
	best := map[string][]string{}
	for _, in := range inputs {
		data, err := s.read(ctx, in.key)
		if err != nil {
			return nil, nil, err
		}
		f, err := readCSVGz(data)
		if err != nil {
			return nil, nil, fmt.Errorf("datalake: %s: %w", in.key, err)
		}
		if header == nil {
			if idCols, err = csvIdentity(ds, f.header); err != nil {
				return nil, nil, fmt.Errorf("datalake: %s: %w", in.key, err)
			}
			header = f.header
		} else if strings.Join(header, ",") != strings.Join(f.header, ",") {
			return nil, nil, fmt.Errorf("datalake: %s: header differs from the other inputs'", in.key)
		}
		for _, row := range f.rows {
			if len(row) != len(header) {
				return nil, nil, fmt.Errorf("datalake: %s: row of %d fields, header of %d", in.key, len(row), len(header))
			}
			best[csvRowKey(row, idCols)] = row
		}
	}
	keys := sortedKeys(best)
	rows := make([][]string, len(keys))
	for i, k := range keys {
		rows[i] = best[k]
	}
	return header, rows, nil
}

func csvRowKey(row []string, cols []int) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		v := row[c]
		if c == cols[len(cols)-2] { // DATE MM/DD/YYYY: sort chronologically
			if t, err := time.Parse("01/02/2006", v); err == nil {
				v = t.Format(DateLayout)
			}
		}
		parts[i] = strconv.Quote(v)
	}
	return strings.Join(parts, "|")
}
