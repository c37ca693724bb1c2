package datalake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Dataset is a top-level directory of the lake: one per window kind.
type Dataset string

// The lake's datasets.
const (
	// DeviceWindows holds closed device windows (TurnstileWindow records).
	DeviceWindows Dataset = "device-windows"
	// StationWindows holds closed station windows (StationWindow records).
	StationWindows Dataset = "station-windows"
)

// Datasets lists every dataset.
func Datasets() []Dataset { return []Dataset{DeviceWindows, StationWindows} }

// File extensions.
const (
	ExtCSV      = ".csv.gz"
	ExtParquet  = ".parquet"
	extRejected = ".jsonl"
	extJSON     = ".json"
)

// DateLayout is the layout of a date partition's value: dt=2006-01-02.
const DateLayout = "2006-01-02"

// offsetDigits zero-pads offsets in file names so that names sort by offset.
const offsetDigits = 20

// Directory and file name parts.
const (
	partPrefix        = "part-"
	compactedPrefix   = "compacted-"
	manifestPrefix    = "_compaction-"
	checkpointDir     = "_checkpoints"
	rejectedDir       = "_rejected"
	stagingDir        = "_staging"
	datePartitionName = "dt="
)

// PartitionDate returns the date partition (YYYY-MM-DD) of a window ending at
// end: the date of the end in zone (nil: UTC), which is also the window's
// DATE column when the pipeline formats it in the same zone.
func PartitionDate(end time.Time, zone *time.Location) string {
	if zone == nil {
		zone = time.UTC
	}
	return end.In(zone).Format(DateLayout)
}

// partitionDir returns "<dataset>/dt=<date>/".
func partitionDir(ds Dataset, date string) string {
	return string(ds) + "/" + datePartitionName + date + "/"
}

// checkpointKey returns the key of a topic-partition's checkpoint.
func checkpointKey(ds Dataset, topic string, partition int32) string {
	return string(ds) + "/" + checkpointDir + "/" + topic + "-" + strconv.Itoa(int(partition)) + extJSON
}

// stagedKey returns where a batch's file waits until its checkpoint commits
// it: "<dataset>/_staging/<rest>" for "<dataset>/<rest>".
func stagedKey(final string) string {
	ds, rest, _ := strings.Cut(final, "/")
	return ds + "/" + stagingDir + "/" + rest
}

// finalKey is the inverse of stagedKey; ok is false for a key that is not
// staged.
func finalKey(staged string) (string, bool) {
	ds, rest, _ := strings.Cut(staged, "/")
	rest, ok := strings.CutPrefix(rest, stagingDir+"/")
	if !ok {
		return "", false
	}
	return ds + "/" + rest, true
}

// span is the offset range of one batch of one topic-partition.
type span struct {
	Topic       string
	Partition   int32
	First, Last int64
}

// partName is "part-<topic>-<partition>-<first>-<last><ext>", offsets
// zero-padded to 20 digits.
func partName(s span, ext string) string {
	return fmt.Sprintf("%s%s-%d-%0*d-%0*d%s", partPrefix, s.Topic, s.Partition, offsetDigits, s.First, offsetDigits, s.Last, ext)
}

// fileName is a parsed lake file name (the base name, without directory).
type fileName struct {
	kind fileKind
	span span   // kindPart
	hash string // kindCompacted, kindManifest
	ext  string // ExtCSV, ExtParquet, extRejected, extJSON
	temp bool   // a temporary file of a write in progress (or crashed)
}

type fileKind int

const (
	kindOther fileKind = iota
	kindPart
	kindCompacted
	kindManifest
)

// tempSuffix marks the temporary files of the local store:
// ".<name>.tmp-<random>". fileblob's are "<name>.<hex>.tmp".
const tempSuffix = ".tmp"

// parseName classifies a base name. Temporary files of both the local store
// and fileblob parse as the file they will become, with temp set.
func parseName(base string) fileName {
	base, temp := tempOf(base)
	var ext string
	for _, e := range []string{ExtCSV, ExtParquet, extRejected, extJSON} {
		if strings.HasSuffix(base, e) {
			ext = e
			break
		}
	}
	if ext == "" {
		return fileName{}
	}
	stem := strings.TrimSuffix(base, ext)
	switch {
	case strings.HasPrefix(stem, partPrefix) && ext != extJSON:
		s, ok := parseSpan(strings.TrimPrefix(stem, partPrefix))
		if !ok {
			return fileName{}
		}
		return fileName{kind: kindPart, span: s, ext: ext, temp: temp}
	case strings.HasPrefix(stem, compactedPrefix) && (ext == ExtCSV || ext == ExtParquet):
		return fileName{kind: kindCompacted, hash: strings.TrimPrefix(stem, compactedPrefix), ext: ext, temp: temp}
	case strings.HasPrefix(stem, manifestPrefix) && ext == extJSON:
		return fileName{kind: kindManifest, hash: strings.TrimPrefix(stem, manifestPrefix), ext: ext, temp: temp}
	}
	return fileName{}
}

// tempOf returns the name a temporary file will get, and whether base is
// a temporary file at all.
func tempOf(base string) (string, bool) {
	if strings.HasPrefix(base, ".") { // local store: .<name>.tmp-<random>
		if i := strings.LastIndex(base, tempSuffix+"-"); i > 0 {
			return base[1:i], true
		}
	} else if strings.HasSuffix(base, tempSuffix) { // fileblob: <name>.<hex>.tmp
		s := strings.TrimSuffix(base, tempSuffix)
		if i := strings.LastIndexByte(s, '.'); i > 0 {
			return s[:i], true
		}
	}
	return base, false
}

// parseSpan parses "<topic>-<partition>-<first>-<last>"; the topic may
// itself contain dashes, so the numbers are taken from the right.
func parseSpan(s string) (span, bool) {
	parts := strings.Split(s, "-")
	if len(parts) < 4 {
		return span{}, false
	}
	n := len(parts)
	first, err1 := strconv.ParseInt(parts[n-2], 10, 64)
	last, err2 := strconv.ParseInt(parts[n-1], 10, 64)
	p, err3 := strconv.ParseInt(parts[n-3], 10, 32)
	topic := strings.Join(parts[:n-3], "-")
	if err1 != nil || err2 != nil || err3 != nil || topic == "" || first < 0 || last < first || p < 0 ||
		len(parts[n-2]) != offsetDigits || len(parts[n-1]) != offsetDigits {
		return span{}, false
	}
	return span{Topic: topic, Partition: int32(p), First: first, Last: last}, true
}

// parseDateDir returns the date of a "dt=YYYY-MM-DD" directory name.
func parseDateDir(dir string) (string, bool) {
	d, ok := strings.CutPrefix(dir, datePartitionName)
	if !ok {
		return "", false
	}
	if _, err := time.Parse(DateLayout, d); err != nil {
		return "", false
	}
	return d, true
}

// splitKey splits "<dataset>/<dir>/<base>" into its parts; dir is "" for
// keys directly under the dataset.
func splitKey(key string) (ds Dataset, dir, base string) {
	first, rest, ok := strings.Cut(key, "/")
	if !ok {
		return "", "", key
	}
	d, b := path.Split(rest)
	return Dataset(first), strings.TrimSuffix(d, "/"), b
}

// inputsHash names a compaction: the first 16 hex digits of the SHA-256 of
// its sorted input names.
func inputsHash(names []string) string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	h := sha256.New()
	for _, n := range s {
		h.Write([]byte(n))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
