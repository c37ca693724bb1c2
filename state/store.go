package state

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/lovoo/goka/storage"
)

// Key layout. Table keys live under dataPrefix, the store's own records under
// metaPrefix, so the offset can never collide with or show up among table
// keys, and iteration is a bounded scan of the data range.
const (
	dataPrefix = 'd'
	metaPrefix = 'm'
)

var (
	keyOffset    = []byte("m/offset")     // decimal, last applied changelog offset
	keyVersion   = []byte("m/version")    // layout version, formatVersion
	keyClusterID = []byte("m/cluster-id") // Kafka cluster id of the changelog
	keyTopicID   = []byte("m/topic-id")   // changelog topic id
	keyTopic     = []byte("m/topic")      // "<topic>/<partition>", informational
	// keyRunning is present while the store takes processing writes (after
	// MarkRecovered) and removed by a clean Close; see Store.Open.
	keyRunning = []byte("m/running")

	dataLower = []byte{dataPrefix}
	dataUpper = []byte{dataPrefix + 1}
)

const formatVersion = "1"

// ErrClosed is returned by calls on a store that is not open.
var ErrClosed = errors.New("state: store is not open")

// ErrFailed is wrapped by calls on a store that found corruption or hit a
// fatal Pebble error; it is rebuilt from the changelog on its next Open.
var ErrFailed = errors.New("state: store failed")

// Store is the goka storage.Storage of one table partition, backed by one
// Pebble instance. Create it with Stores.Build or Stores.Store.
type Store struct {
	parent    *Stores
	opts      Options
	topic     string
	partition int32
	dir       string
	log       *slog.Logger

	// life guards the DB's lifetime: every call holds it shared while it
	// uses db; Open and Close hold it exclusively.
	life   sync.RWMutex
	db     *pebble.DB
	lock   *pebble.Lock
	closed bool

	// failed holds the reason once Pebble reported a fatal error or
	// corruption; every later call fails with it.
	failed atomic.Pointer[string]

	// wmu serialises writers (goka's partition goroutine for Set/Delete,
	// the producer's callback goroutine for SetOffset) and guards the
	// recovery batch and the cached offset.
	wmu   sync.Mutex
	batch *pebble.Batch // non-nil until MarkRecovered: commits go through it
	// wbatch commits the write buffer after MarkRecovered (the recovery
	// batch, reused).
	wbatch *pebble.Batch
	// pending are the writes not committed to Pebble yet, the latest of
	// each key only: the recovery writes until MarkRecovered, then the
	// processing writes (the write buffer, Options.WriteBufferSize). A
	// changelog, and a processor's stream of writes, is mostly overwrites
	// of the same keys, and each one Pebble never sees saves a memtable
	// insert, a commit and its share of flushes and compactions.
	// pendingBytes are their keys' and values' bytes.
	pending      map[string]*pendingWrite
	pendingBytes int64
	batchBytes   int64     // bytes written since the last commit, overwrites included
	batchStart   time.Time // when the first write entered pending
	batchOps     int       // writes since the last commit, overwrites included
	offset       int64
	hasOffset    bool
	offsetDirty  bool // offset not yet in batch/DB
	keyBuf       []byte
	recovered    atomic.Bool

	iterMu sync.Mutex
	iters  map[*iterator]struct{}

	// cache holds recent values (nil when Options.ValueCacheSize < 0).
	cache *valueCache

	rebuilt        string // why Open rebuilt the store, "" if it did not
	recoveryWrites atomic.Int64
	recoveryBytes  atomic.Int64
	openRecovered  atomic.Int64 // changelog records Open applied itself
	writes         atomic.Int64
	commits        atomic.Int64
	bufferCommits  atomic.Int64
	// Processing Sets and changelog acknowledgements (SetOffset calls after
	// MarkRecovered): Close calls a store clean only when they match.
	runningSets, runningAcks atomic.Int64
	// runningSlack is 1 when the first processing write can land at
	// changelog offset 0, the one write goka acknowledges without
	// SetOffset: the store recovered no changelog record.
	runningSlack int64
}

var _ storage.Storage = (*Store)(nil)

func newStore(parent *Stores, topic string, partition int32, dir string) *Store {
	return &Store{
		parent:    parent,
		opts:      parent.opts,
		topic:     topic,
		partition: partition,
		dir:       dir,
		log:       parent.opts.Logger.With("topic", topic, "partition", partition),
		iters:     make(map[*iterator]struct{}),
		cache:     newValueCache(parent.opts.ValueCacheSize),
	}
}

// usable returns why the store cannot be used, if it cannot. Callers hold
// life.
func (s *Store) usable() error {
	if s.db == nil {
		return ErrClosed
	}
	if f := s.failed.Load(); f != nil {
		return fmt.Errorf("%w: %s: %s", ErrFailed, s.dir, *f)
	}
	return nil
}

// noteErr poisons the store and leaves a marker for the next Open when err
// is a corruption: a corrupt store is rebuilt, not served.
func (s *Store) noteErr(err error) {
	if err == nil || !pebble.IsCorruptionError(err) {
		return
	}
	s.fail("corruption: " + err.Error())
}

func (s *Store) fail(reason string) {
	if s.failed.CompareAndSwap(nil, &reason) {
		s.log.Error("state: store is corrupt or broken; it will be rebuilt from the changelog on next open",
			"dir", s.dir, "reason", reason)
		if err := writeMarker(s.dir, reason); err != nil {
			s.log.Error("state: cannot mark store for rebuild", "dir", s.dir, "err", err)
		}
	}
}

func (s *Store) dataKey(key string) []byte {
	s.keyBuf = append(append(s.keyBuf[:0], dataPrefix), key...)
	return s.keyBuf
}

func dataKey(key string) []byte {
	k := make([]byte, 1+len(key))
	k[0] = dataPrefix
	copy(k[1:], key)
	return k
}

// Has reports whether key exists. A key in the value cache is answered from
// there, as Get answers it; otherwise Pebble is asked.
func (s *Store) Has(key string) (bool, error) {
	_, ok, err := s.lookup("has", key, false)
	return ok, err
}

// Get returns a copy of key's value, or nil, nil if key does not exist.
func (s *Store) Get(key string) ([]byte, error) {
	v, _, err := s.lookup("get", key, true)
	return v, err
}

// lookup is Get and Has: the value cache first, then Pebble (after
// committing pending recovery writes so they are visible). With value it
// returns a copy of the value, non-nil if the key exists, and fills the
// cache from Pebble once the store is recovered; without it returns no value
// and leaves the cache alone.
func (s *Store) lookup(op, key string, value bool) ([]byte, bool, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if err := s.usable(); err != nil {
		return nil, false, err
	}
	v, gen, ok := s.cache.get(key)
	if ok {
		return v, true, nil
	}
	if s.recovered.Load() {
		if v, found, ok := s.buffered(key, value); ok {
			return v, found, nil
		}
	} else if err := s.flushForRead(); err != nil {
		return nil, false, err
	}
	pv, closer, err := s.db.Get(dataKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		s.noteErr(err)
		return nil, false, fmt.Errorf("state: %s %q in %s: %w", op, key, s.dir, err)
	}
	defer func() { _ = closer.Close() }()
	if !value {
		return nil, true, nil
	}
	out := make([]byte, len(pv))
	copy(out, pv)
	if s.recovered.Load() {
		cached := make([]byte, len(out))
		copy(cached, out)
		s.cache.fill(key, cached, gen)
	}
	return out, true, nil
}

// Set stores value under key. While recovering it joins the recovery batch;
// afterwards it is an unsynced write (the changelog is the source of truth).
// A nil value is stored as an empty one, as goka's LevelDB storage does.
func (s *Store) Set(key string, value []byte) error { return s.mutate("set", key, value, false) }

// Delete removes key; deleting a missing key is not an error.
func (s *Store) Delete(key string) error { return s.mutate("delete", key, nil, true) }

func (s *Store) mutate(op, key string, value []byte, del bool) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if err := s.usable(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	k := s.dataKey(key)
	if s.batch != nil {
		s.cache.del(key)
		return s.recoveryWrite(k, value, del)
	}
	s.writes.Add(1)
	if !del {
		// goka acknowledges table Sets with SetOffset (not Deletes).
		s.runningSets.Add(1)
	}
	if s.opts.WriteBufferSize > 0 {
		return s.buffer(op, key, k, value, del)
	}
	if err := s.write(k, value, del); err != nil {
		s.cache.del(key)
		return fmt.Errorf("state: %s %q in %s: %w", op, key, s.dir, err)
	}
	switch {
	case del:
		s.cache.del(key)
	case s.opts.KeepValues:
		s.cache.setOwned(key, value)
	default:
		s.cache.set(key, value)
	}
	return nil
}

// buffer is the running write path with a write buffer: the write replaces
// the key's pending one (its copy of value shared with the value cache),
// and the buffer is committed to Pebble, unsynced, once its keys and values
// reach Options.WriteBufferSize. Nothing is lost by holding writes back: a
// store that stops without a clean Close is rebuilt from the changelog
// whatever it holds (the running marker), and a clean Close commits the
// buffer. Callers hold wmu.
func (s *Store) buffer(op, key string, k, value []byte, del bool) error {
	owned := value
	if !del && !s.opts.KeepValues {
		owned = append(make([]byte, 0, len(value)), value...)
	}
	s.putPending(k, owned, del)
	if del {
		s.cache.del(key)
	} else {
		s.cache.setOwned(key, owned)
	}
	if s.pendingBytes < s.opts.WriteBufferSize {
		return nil
	}
	if err := s.commitPending(s.wbatch, false); err != nil {
		s.cache.del(key)
		return fmt.Errorf("state: %s %q in %s: %w", op, key, s.dir, err)
	}
	return nil
}

// buffered looks key up in the write buffer: its value (a copy, when value
// is set) or that it was deleted, and ok; or not ok when the buffer does
// not hold the key.
func (s *Store) buffered(key string, value bool) (v []byte, found, ok bool) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	w, ok := s.pending[string(s.dataKey(key))]
	if !ok {
		return nil, false, false
	}
	if w.del {
		return nil, false, true
	}
	if value {
		v = append(make([]byte, 0, len(w.value)), w.value...)
	}
	return v, true, true
}

// write is the running (recovered) write path without a write buffer: one
// unsynced write. The changelog offset is not written with it: a store that
// stops without a clean Close is rebuilt from the changelog whatever offset
// it holds (the running marker says so), so the offset only matters at a
// clean Close, which writes it. Callers hold wmu.
func (s *Store) write(k, value []byte, del bool) error {
	var err error
	if del {
		err = s.db.Delete(k, pebble.NoSync)
	} else {
		err = s.db.Set(k, value, pebble.NoSync)
	}
	s.noteErr(err)
	return err
}

// pendingWrite is one key's latest recovery write.
type pendingWrite struct {
	value []byte
	del   bool
}

// recoveryWrite adds a recovery write of data key k to the batch. Callers
// hold wmu, s.batch != nil, and have dropped the key from the value cache.
func (s *Store) recoveryWrite(k, value []byte, del bool) error {
	s.addPending(k, value, del)
	return s.addedToBatch()
}

// addPending keeps k's latest recovery write (a copy of value). Callers
// hold wmu.
func (s *Store) addPending(k, value []byte, del bool) {
	var owned []byte
	if !del {
		owned = append(make([]byte, 0, len(value)), value...)
	}
	s.batchBytes += int64(len(k) + len(value))
	s.recoveryBytes.Add(int64(len(k) - 1 + len(value)))
	s.putPending(k, owned, del)
}

// putPending makes value (kept, not copied) k's pending write. Callers hold
// wmu.
func (s *Store) putPending(k, value []byte, del bool) {
	if s.pending == nil {
		s.pending = map[string]*pendingWrite{}
	}
	if w, ok := s.pending[string(k)]; ok {
		s.pendingBytes += int64(len(value) - len(w.value))
		w.value, w.del = value, del
		return
	}
	s.pendingBytes += int64(len(k) + len(value))
	s.pending[string(k)] = &pendingWrite{value: value, del: del}
}

// addedToBatch accounts for a recovery write. Commits normally happen in
// SetOffset, where the batch holds exactly the writes its offset covers; a
// batch that grows to twice its size without a SetOffset (an update
// callback writing many keys per record) is committed here. That leaves the
// stored offset behind the data, which is safe: replaying changelog records
// over newer data converges to the same state. Callers hold wmu.
func (s *Store) addedToBatch() error {
	s.recoveryWrites.Add(1)
	if s.batchOps == 0 {
		s.batchStart = time.Now()
	}
	s.batchOps++
	if s.pendingBytes >= 2*s.opts.RecoveryBatchSize || s.batchBytes >= 2*maxOverwrites*s.opts.RecoveryBatchSize {
		return s.commitPending(s.batch, false)
	}
	return nil
}

// maxOverwrites bounds how much a recovery batch may take in per byte it
// keeps: a batch commits once it has taken maxOverwrites times
// RecoveryBatchSize, however few keys it holds, so a changelog of a few
// hot keys still commits (and stores its offset) as it goes.
const maxOverwrites = 8

// commitPending writes the pending writes, with the current offset as the
// last record, in one atomic Pebble commit through b (the recovery batch,
// or the write buffer's after MarkRecovered). Callers hold wmu.
//
// Ordering: goka applies a changelog record (Set/Delete) and then calls
// SetOffset with its offset, so when the offset enters the batch every
// record up to it already has. The batch commits atomically and Pebble
// recovers a prefix of its commits after a crash (the WAL is sequential),
// so a persisted offset is never ahead of the data it covers. Without sync
// a crash may lose recent commits, which only moves the offset back: goka
// replays from there. After MarkRecovered the offset is that of the last
// acknowledged table write, which the buffer's writes include.
func (s *Store) commitPending(b *pebble.Batch, sync bool) error {
	// In key order: Pebble's memtable inserts ascending keys fastest.
	for _, k := range slices.Sorted(maps.Keys(s.pending)) {
		w := s.pending[k]
		var err error
		if w.del {
			err = b.Delete([]byte(k), nil)
		} else {
			err = b.Set([]byte(k), w.value, nil)
		}
		if err != nil {
			b.Reset()
			return fmt.Errorf("state: batch write in %s: %w", s.dir, err)
		}
	}
	clear(s.pending)
	s.pendingBytes, s.batchBytes = 0, 0
	if s.offsetDirty {
		if err := b.Set(keyOffset, strconv.AppendInt(nil, s.offset, 10), nil); err != nil {
			b.Reset()
			return fmt.Errorf("state: set offset in %s: %w", s.dir, err)
		}
		s.offsetDirty = false
	}
	if b.Empty() {
		return nil
	}
	wo := pebble.NoSync
	if sync {
		wo = pebble.Sync
	}
	if err := s.db.Apply(b, wo); err != nil {
		// The pending writes are gone with the batch: a store that lost
		// writes must not be called clean by a later Close.
		s.fail("commit failed: " + err.Error())
		b.Reset()
		return fmt.Errorf("state: commit batch in %s: %w", s.dir, err)
	}
	if b == s.batch {
		s.commits.Add(1)
	} else {
		s.bufferCommits.Add(1)
	}
	b.Reset()
	s.batchOps = 0
	return nil
}

// flushForRead commits pending writes so that a read of Pebble sees them (an
// update callback may read what it wrote; views may read while recovering;
// an iterator's snapshot must hold the write buffer).
func (s *Store) flushForRead() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	switch {
	case s.batch != nil && s.batchOps > 0:
		return s.commitPending(s.batch, false)
	case s.batch == nil && len(s.pending) > 0:
		return s.commitPending(s.wbatch, false)
	}
	return nil
}

// GetOffset returns the last changelog offset stored, or def if none.
func (s *Store) GetOffset(def int64) (int64, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.hasOffset {
		return def, nil
	}
	return s.offset, nil
}

// SetOffset records the offset of the last changelog record applied. While
// recovering it is the point where a full (or old) batch is committed;
// afterwards it is kept in memory and written by a clean Close.
func (s *Store) SetOffset(offset int64) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if err := s.usable(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.batch != nil {
		return s.recoveryOffset(offset)
	}
	s.offset, s.hasOffset, s.offsetDirty = offset, true, true
	// Recovered: the offset is kept in memory and written by a clean Close
	// (see write).
	s.runningAcks.Add(1)
	return nil
}

// recoveryOffset records that the changelog is applied up to offset and
// commits the batch when it is due. Callers hold wmu and s.batch != nil.
func (s *Store) recoveryOffset(offset int64) error {
	s.offset, s.hasOffset, s.offsetDirty = offset, true, true
	if s.pendingBytes >= s.opts.RecoveryBatchSize || s.batchBytes >= maxOverwrites*s.opts.RecoveryBatchSize ||
		(s.batchOps > 0 && s.batchOps%1024 == 0 && time.Since(s.batchStart) >= s.opts.RecoveryFlushInterval) {
		return s.commitPending(s.batch, false)
	}
	return nil
}

// MarkRecovered commits the recovery batch with one fsync and switches to
// direct unsynced writes. Calling it again does nothing.
func (s *Store) MarkRecovered() error {
	s.life.RLock()
	defer s.life.RUnlock()
	if err := s.usable(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.batch == nil {
		return nil
	}
	if err := s.commitPending(s.batch, true); err != nil {
		return err
	}
	// From here on local writes precede their changelog acknowledgement:
	// until a clean Close, this store may hold writes the changelog never
	// got.
	if err := s.db.Set(keyRunning, []byte("1"), pebble.Sync); err != nil {
		s.noteErr(err)
		return fmt.Errorf("state: mark %s running: %w", s.dir, err)
	}
	s.wbatch, s.batch = s.batch, nil
	s.runningSlack = 0
	if !s.hasOffset {
		s.runningSlack = 1
	}
	s.recovered.Store(true)
	s.log.Debug("state: recovered", "dir", s.dir, "offset", s.offset, "has_offset", s.hasOffset,
		"recovery_writes", s.recoveryWrites.Load())
	return nil
}

// Acknowledged reports how many table writes (Sets) the store took since it
// recovered and how many of them the changelog has acknowledged
// (SetOffset; the first write of an empty changelog, which goka
// acknowledges without SetOffset, counts as acknowledged). Acknowledgements
// come in write order, so every write up to the acknowledged count is
// durable. Safe for concurrent use.
func (s *Store) Acknowledged() (written, acked int64) {
	acked = s.runningAcks.Load()
	written = s.runningSets.Load()
	s.wmu.Lock()
	acked += s.runningSlack
	s.wmu.Unlock()
	return written, min(acked, written)
}

// Iterator returns an iterator over a snapshot of all table keys.
func (s *Store) Iterator() (storage.Iterator, error) {
	return s.newIterator(dataLower, dataUpper)
}

// IteratorWithRange returns an iterator over a snapshot of the keys in
// [start, limit). As in goka's LevelDB storage (and unlike the interface's
// comment), an empty limit means "keys with prefix start", so (nil, nil)
// iterates everything.
func (s *Store) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	lower := append([]byte{dataPrefix}, start...)
	var upper []byte
	if len(limit) > 0 {
		upper = append([]byte{dataPrefix}, limit...)
	} else {
		upper = prefixEnd(lower)
	}
	return s.newIterator(lower, upper)
}

// prefixEnd returns the smallest key greater than every key with prefix p
// (p starts with dataPrefix, so the result is never unbounded).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return dataUpper
}

// PartitionStats describes one open partition store.
type PartitionStats struct {
	Topic     string
	Partition int32
	Dir       string
	// Recovered is true after MarkRecovered.
	Recovered bool
	// Offset is the last changelog offset applied, -1 if none.
	Offset int64
	// DiskBytes is the space the store's files take.
	DiskBytes uint64
	// MemTableBytes is the memory held by its memtables.
	MemTableBytes uint64
	// RecoveryWrites counts Set/Delete calls made while recovering,
	// Writes those made afterwards, RecoveryCommits the recovery batches
	// committed, BufferCommits the write buffer's.
	RecoveryWrites  int64
	Writes          int64
	RecoveryCommits int64
	BufferCommits   int64
	// RecoveryBytes are the table keys' and values' bytes of the recovery
	// writes; RecoveredOnOpen the changelog records Open applied itself
	// (Options.RecoverOnOpen), counted in RecoveryWrites too.
	RecoveryBytes   int64
	RecoveredOnOpen int64
	// Rebuilt says why Open wiped the store and started empty ("" if it
	// did not).
	Rebuilt string
}

// Stats returns the partition's statistics (zero sizes when not open).
func (s *Store) Stats() PartitionStats {
	s.life.RLock()
	defer s.life.RUnlock()
	st := PartitionStats{
		Topic:           s.topic,
		Partition:       s.partition,
		Dir:             s.dir,
		Recovered:       s.recovered.Load(),
		Offset:          -1,
		RecoveryWrites:  s.recoveryWrites.Load(),
		Writes:          s.writes.Load(),
		RecoveryCommits: s.commits.Load(),
		BufferCommits:   s.bufferCommits.Load(),
		RecoveryBytes:   s.recoveryBytes.Load(),
		RecoveredOnOpen: s.openRecovered.Load(),
		Rebuilt:         s.rebuilt,
	}
	s.wmu.Lock()
	if s.hasOffset {
		st.Offset = s.offset
	}
	s.wmu.Unlock()
	if s.db != nil {
		m := s.db.Metrics()
		st.DiskBytes = m.DiskSpaceUsage()
		st.MemTableBytes = m.MemTable.Size
	}
	return st
}
