package datalake

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// Format says which files the lake gets. The zero value writes both
// formats, CSV with the index column.
type Format struct {
	// NoCSV skips the CSV.gz files (--csv=false).
	NoCSV bool
	// NoParquet skips the Parquet files (--parquet=false).
	NoParquet bool
	// NoCSVIndex drops the leading unnamed index column (--csv-index=false).
	NoCSVIndex bool
	// zone is the time zone of the date partitions and of the station
	// windows' DATE and TIME; nil is UTC. The Writer sets it from
	// Config.TimeZone.
	zone *time.Location
}

// checkpoint is a topic-partition's progress in the lake: every record
// below Next is in exactly one committed file (or in _rejected), none at or
// above it. It is written after a batch's staged files and before they are
// published, so it is the batch's commit point; Files are the final keys
// the batch publishes. The Kafka group offset is only a copy, for lag
// monitoring.
type checkpoint struct {
	Dataset   Dataset   `json:"dataset"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Next      int64     `json:"next_offset"`
	First     int64     `json:"batch_first_offset"`
	Last      int64     `json:"batch_last_offset"`
	Files     []string  `json:"batch_files"`
	Written   time.Time `json:"written_at"`
}

func readCheckpoint(ctx context.Context, s *Store, ds Dataset, topic string, partition int32) (*checkpoint, error) {
	b, err := s.read(ctx, checkpointKey(ds, topic, partition))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("datalake: checkpoint %s: %w", checkpointKey(ds, topic, partition), err)
	}
	return &cp, nil
}

// readCheckpoints returns a dataset's checkpoints by topic and partition.
func readCheckpoints(ctx context.Context, s *Store, ds Dataset) (map[string]map[int32]int64, error) {
	objs, err := s.list(ctx, string(ds)+"/"+checkpointDir+"/")
	if err != nil {
		return nil, err
	}
	out := map[string]map[int32]int64{}
	for _, o := range objs {
		if b := baseName(o.Key); strings.HasPrefix(b, ".") || !strings.HasSuffix(b, extJSON) {
			continue // a temporary file
		}
		b, err := s.read(ctx, o.Key)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var cp checkpoint
		if err := json.Unmarshal(b, &cp); err != nil {
			return nil, fmt.Errorf("datalake: checkpoint %s: %w", o.Key, err)
		}
		if out[cp.Topic] == nil {
			out[cp.Topic] = map[int32]int64{}
		}
		out[cp.Topic][cp.Partition] = cp.Next
	}
	return out, nil
}

func baseName(key string) string {
	_, _, b := splitKey(key)
	return b
}

// rejected is a record that can never decode.
type rejected struct {
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Timestamp time.Time `json:"timestamp"`
	Key       string    `json:"key_base64"`
	Value     string    `json:"value_base64"`
	Reason    string    `json:"reason"`
	Detail    string    `json:"error"`
}

func newRejected(topic string, partition int32, offset int64, ts time.Time, key, value []byte, reason string, err error) rejected {
	return rejected{Topic: topic, Partition: partition, Offset: offset, Timestamp: ts.UTC(),
		Key: base64.StdEncoding.EncodeToString(key), Value: base64.StdEncoding.EncodeToString(value),
		Reason: reason, Detail: err.Error()}
}

// batch is what a topic-partition buffered since its last flush: decoded
// windows in offset order (only the slice of its dataset is used) and
// rejected records.
type batch struct {
	first, last int64 // offsets of the first and last record; first < 0: empty
	devices     []schemas.DeviceWindow
	stations    []schemas.StationWindow
	rejected    []rejected
	records     int
	bytes       int64
}

func (b *batch) empty() bool { return b.records == 0 }

// reset empties the batch after its commit and keeps its slices'
// capacity for the next one: a partition's batches are alike in size, and
// growing a slice of windows again each flush was the lake-writer's
// largest allocation.
func (b *batch) reset() {
	clear(b.devices)
	clear(b.stations)
	*b = batch{devices: b.devices[:0], stations: b.stations[:0]}
}

func (b *batch) add(offset int64, size int) {
	if b.records == 0 {
		b.first = offset
	}
	b.last = offset
	b.records++
	b.bytes += int64(size)
}

// writtenFile describes one file a flush wrote.
type writtenFile struct {
	Key         string
	Rows        int
	First, Last int64
}

// batchHooks let package tests stop writeBatch where a crash would: an
// error from a hook stops it there.
type batchHooks struct {
	afterData     func() error           // staged files written, checkpoint not yet
	beforePublish func(key string) error // checkpoint written, key not yet published
}

// writeBatch writes a batch in three steps: (1) its files under
// <dataset>/_staging/ (per date partition one file per format, and the
// rejected records), (2) its checkpoint, which commits them, (3) each
// staged file published to its final key. Readers see only step 3's
// files, so they never see a batch that is not committed.
//
// It returns the files (by final key) and whether the checkpoint was
// written. A committed batch is never written again: when publishing
// fails (committed and an error), its files must be published from
// staging (publishStaged), and recovery does so after a crash.
func writeBatch(ctx context.Context, s *Store, ds Dataset, sp span, b *batch, f Format, h batchHooks) ([]writtenFile, bool, error) {
	var files []writtenFile
	put := func(key string, rows int, write func(io.Writer) error) error {
		if err := s.put(ctx, stagedKey(key), write); err != nil {
			return err
		}
		files = append(files, writtenFile{Key: key, Rows: rows, First: sp.First, Last: sp.Last})
		return nil
	}
	meta := map[string]string{MetaTopic: sp.Topic, MetaPartition: strconv.Itoa(int(sp.Partition)),
		MetaOffsets: fmt.Sprintf("%d-%d", sp.First, sp.Last)}
	var err error
	switch ds {
	case DeviceWindows:
		err = writeDated(ds, sp, f, b.devices, deviceCSVColumns, deviceCSVFields, NewDeviceRow,
			func(w *schemas.DeviceWindow) time.Time { return w.End }, put, meta)
	case StationWindows:
		err = writeDated(ds, sp, f, b.stations, stationCSVColumns,
			func(w *schemas.StationWindow, dst []string) []string {
				date, clock := schemas.WindowEndFields(w.End, f.zone)
				return stationCSVFields(w, date, clock, dst)
			},
			func(w *schemas.StationWindow) StationRow { return NewStationRow(w, f.zone) },
			func(w *schemas.StationWindow) time.Time { return w.End }, put, meta)
	default:
		return nil, false, fmt.Errorf("datalake: unknown dataset %q", ds)
	}
	if err != nil {
		return files, false, err
	}
	if len(b.rejected) > 0 {
		key := string(ds) + "/" + rejectedDir + "/" + partName(sp, extRejected)
		if err := put(key, len(b.rejected), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			for i := range b.rejected {
				if err := enc.Encode(&b.rejected[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return files, false, err
		}
	}
	if h.afterData != nil {
		if err := h.afterData(); err != nil {
			return files, false, err
		}
	}
	cp := checkpoint{Dataset: ds, Topic: sp.Topic, Partition: sp.Partition, Next: sp.Last + 1,
		First: sp.First, Last: sp.Last, Written: time.Now().UTC()}
	for _, f := range files {
		cp.Files = append(cp.Files, f.Key)
	}
	data, err := json.MarshalIndent(&cp, "", "  ")
	if err != nil {
		return files, false, fmt.Errorf("datalake: checkpoint: %w", err)
	}
	if err := s.put(ctx, checkpointKey(ds, sp.Topic, sp.Partition), func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	}); err != nil {
		return files, false, err
	}
	// Committed. Nothing of this batch is staged again: a failure from
	// here on leaves the rest to publishStaged.
	for _, f := range files {
		if h.beforePublish != nil {
			if err := h.beforePublish(f.Key); err != nil {
				return files, true, err
			}
		}
		if err := s.publish(ctx, stagedKey(f.Key), f.Key); err != nil {
			return files, true, err
		}
	}
	return files, true, nil
}

// publishStaged publishes the staged file of a committed batch whose final
// key is final. It is idempotent: it reports false, having copied nothing,
// when the staged file is gone (published already, and perhaps compacted
// since) or when both exist (a crash between an object store's copy and
// its delete), in which case it deletes the staged one.
func publishStaged(ctx context.Context, s *Store, final string) (bool, error) {
	staged := stagedKey(final)
	ok, err := s.exists(ctx, staged)
	if err != nil || !ok {
		return false, err
	}
	done, err := s.exists(ctx, final)
	if err != nil {
		return false, err
	}
	if done {
		return false, s.remove(ctx, staged)
	}
	return true, s.publish(ctx, staged, final)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeDated writes one dataset's records of a batch: per window-end date
// partition, a CSV.gz and a Parquet file (each unless switched off).
func writeDated[W, R any](ds Dataset, sp span, f Format, recs []W, csvColumns []string,
	csvFields func(*W, []string) []string, toRow func(*W) R, end func(*W) time.Time,
	put func(key string, rows int, write func(io.Writer) error) error, meta map[string]string) error {
	byDate := map[string][]int{}
	for i := range recs {
		d := PartitionDate(end(&recs[i]), f.zone)
		byDate[d] = append(byDate[d], i)
	}
	var rows []R // one date's Parquet rows, reused for the next date
	for _, d := range sortedKeys(byDate) {
		idx := byDate[d]
		dir := partitionDir(ds, d)
		if !f.NoCSV {
			if err := put(dir+partName(sp, ExtCSV), len(idx), func(w io.Writer) error {
				return writeCSVGz(w, !f.NoCSVIndex, csvColumns, len(idx), func(i int, dst []string) []string {
					return csvFields(&recs[idx[i]], dst)
				})
			}); err != nil {
				return err
			}
		}
		if !f.NoParquet {
			rows = rows[:0]
			for _, j := range idx {
				rows = append(rows, toRow(&recs[j]))
			}
			if err := put(dir+partName(sp, ExtParquet), len(rows), func(w io.Writer) error {
				return writeParquet(w, rows, meta)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}
