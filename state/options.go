package state

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
)

// Options configures the stores a Builder opens. Only Dir is required; zero
// values take the defaults documented on each field.
//
// Memory use is bounded by roughly
//
//	CacheSize + open partitions × (MemTableSize × 2 + RecoveryBatchSize + WriteBufferSize + ValueCacheSize)
//
// (the cache is shared by all partitions of one Stores; a partition holds at
// most two memtables before Pebble stalls writes, plus the recovery batch
// while it recovers and the write buffer after).
type Options struct {
	// Dir holds one Pebble directory per table partition,
	// <Dir>/<topic>.<partition>. Required.
	Dir string

	// MemTableSize is the size of one Pebble memtable per partition.
	// Default 4 MiB (a member owning every partition of both tables holds
	// 12 × 2 of them at most).
	MemTableSize int64
	// CacheSize is the block cache shared by all partitions opened through
	// the same Stores. Default 16 MiB: the callbacks read values they
	// wrote moments before, from the memtable or the value cache.
	CacheSize int64
	// RecoveryBatchSize is how many bytes of changelog writes are gathered
	// into one unsynced batch while a partition recovers. Default
	// MemTableSize/4. Pebble sizes a batch with its memtable node overhead,
	// so for small records such a batch passes its large-batch threshold
	// (half a memtable) and is queued for flushing as is instead of being
	// copied into the memtable: measured faster for recovery (about 1.0M
	// vs 0.75M records/s with MemTableSize/16).
	RecoveryBatchSize int64
	// RecoveryFlushInterval bounds how long recovered writes may sit in the
	// recovery batch before they are committed (so a slow trickle of
	// changelog records still makes durable progress; checked every 1024
	// records). Default 5s.
	RecoveryFlushInterval time.Duration
	// ValueCacheSize bounds the memory each partition's store uses to keep
	// recently written and read values, so a processing callback reading
	// the value it wrote for the previous record skips Pebble. Default 2
	// MiB; negative disables the cache.
	ValueCacheSize int64
	// WriteBufferSize bounds the bytes (keys and values) of the processing
	// writes each partition's store holds back from Pebble, the latest of
	// each key only: a processor rewrites the same keys over and over, and
	// Pebble gets one batch of the latest values when the buffer is full,
	// an iterator is opened or the store closes cleanly, instead of one
	// commit and memtable insert per write. Nothing is lost by holding
	// them: a store stopped without a clean Close is rebuilt from the
	// changelog anyway. Default MemTableSize/4; negative writes each one
	// through.
	WriteBufferSize int64
	// KeepValues lets a recovered store keep the slice a Set is given (in
	// its write buffer and value cache) instead of copying it. Set it only
	// when nobody modifies a slice after passing it to Set: goka passes
	// what the table codec's Encode returned, which it also hands its
	// producer, so a codec that returns a new slice from every Encode (as
	// the pipeline's does) qualifies. Recovery writes are always copied.
	KeepValues bool
	// MaxOpenFiles caps the table files each partition keeps open.
	// Default 256.
	MaxOpenFiles int

	// Logger receives the store's messages and Pebble's own. Nil discards
	// them.
	Logger *slog.Logger

	// Changelog describes a partition's changelog in Kafka, so that Open can
	// tell whether a store on disk still belongs to it. Nil disables the
	// foreign-cluster, recreated-topic and ahead-of-changelog checks (a store
	// that fails to open is still rebuilt).
	Changelog ChangelogInfo
	// CheckTimeout bounds the Changelog query on Open. Default 30s.
	CheckTimeout time.Duration
	// RecoverOnOpen is how long Open may spend reading the changelog into
	// the store itself when Changelog is also a ChangelogReader (as
	// KafkaChangelog is): records are fetched while earlier ones are
	// applied, where goka's recovery alternates the two. goka recovers
	// whatever is left after it, as before. Open cannot be cancelled, so
	// this also bounds how long a rebalance waits for a partition that is
	// recovering. Default 10s; negative leaves all of the recovery to goka.
	RecoverOnOpen time.Duration
}

const (
	defaultMemTableSize     = 4 << 20
	defaultCacheSize        = 16 << 20
	defaultValueCacheSize   = 2 << 20
	defaultRecoveryInterval = 5 * time.Second
	defaultMaxOpenFiles     = 256
	defaultCheckTimeout     = 30 * time.Second
	defaultRecoverOnOpen    = 10 * time.Second
	minMemTableSize         = 1 << 20
)

// ManualMemory is the most memory Pebble allocates outside the Go heap
// (memtables and the block cache) for the given number of open table
// partitions with these options: what a process memory budget must leave
// it.
func (o Options) ManualMemory(partitions int) int64 {
	d := o
	d.Dir = "." // only the sizes matter here
	if d.validate() != nil {
		d = o
	} else {
		d.Defaults()
	}
	return d.CacheSize + int64(partitions)*2*d.MemTableSize
}

// Defaults fills zero fields and raises a MemTableSize below the minimum
// (1 MiB) to it.
func (o *Options) Defaults() {
	if o.MemTableSize == 0 {
		o.MemTableSize = defaultMemTableSize
	}
	if o.MemTableSize > 0 && o.MemTableSize < minMemTableSize {
		o.MemTableSize = minMemTableSize
	}
	if o.CacheSize == 0 {
		o.CacheSize = defaultCacheSize
	}
	if o.ValueCacheSize == 0 {
		o.ValueCacheSize = defaultValueCacheSize
	}
	if o.RecoveryBatchSize == 0 {
		o.RecoveryBatchSize = o.MemTableSize / 4
	}
	if o.WriteBufferSize == 0 {
		o.WriteBufferSize = o.MemTableSize / 4
	}
	if o.RecoveryFlushInterval == 0 {
		o.RecoveryFlushInterval = defaultRecoveryInterval
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = defaultMaxOpenFiles
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = defaultCheckTimeout
	}
	if o.RecoverOnOpen == 0 {
		o.RecoverOnOpen = defaultRecoverOnOpen
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate checks the options as given (before Defaults).
func (o Options) validate() error {
	if o.Dir == "" {
		return errors.New("state: Options.Dir is required")
	}
	if o.MemTableSize < 0 || o.CacheSize < 0 || o.RecoveryBatchSize < 0 || o.MaxOpenFiles < 0 ||
		o.RecoveryFlushInterval < 0 || o.CheckTimeout < 0 {
		return fmt.Errorf("state: negative option in %+v", o)
	}
	return nil
}

// pebbleOptions are the Pebble settings for one partition, tuned for a
// changelog-backed table: point reads and writes of small values, bursts of
// bulk writes while recovering, durability delegated to the changelog.
func (o Options) pebbleOptions(cache *pebble.Cache) *pebble.Options {
	po := &pebble.Options{
		Cache:        cache,
		MemTableSize: uint64(o.MemTableSize),
		// Two memtables: one filling while the other flushes. More only
		// buys memory for bursts that compaction cannot keep up with anyway.
		MemTableStopWritesThreshold: 2,
		// Let L0 absorb recovery bursts before compacting, and stall late.
		L0CompactionThreshold: 4,
		L0StopWritesThreshold: 24,
		LBaseMaxBytes:         64 << 20,
		MaxOpenFiles:          o.MaxOpenFiles,
		// New stores get the newest on-disk format; existing ones are
		// ratcheted up on open.
		FormatMajorVersion: pebble.FormatNewest,
		// Goka processors run a partition per goroutine on shared cores:
		// one background compaction per partition.
		MaxConcurrentCompactions: func() int { return 1 },
	}
	po.Levels = make([]pebble.LevelOptions, 7)
	for i := range po.Levels {
		l := &po.Levels[i]
		l.BlockSize = 16 << 10
		l.IndexBlockSize = 256 << 10
		// Bloom filters make Get of a missing key (the first write of every
		// new key in a counting table) skip the tables that cannot hold it.
		l.FilterPolicy = bloom.FilterPolicy(10)
		l.FilterType = pebble.TableFilter
		l.Compression = pebble.SnappyCompression
		l.TargetFileSize = 8 << 20
		if i > 0 {
			l.TargetFileSize = po.Levels[i-1].TargetFileSize * 2
		}
	}
	return po
}
