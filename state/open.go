package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// markerFile, in a partition directory, asks the next Open to rebuild it. It
// is written when Pebble reports corruption or a fatal error at run time.
const markerFile = "REBUILD"

// lockFile is Pebble's directory lock, kept across a wipe.
const lockFile = "LOCK"

// Open opens (creating if needed) the partition's Pebble store and decides
// whether it can be trusted. It is rebuilt — its directory emptied and
// recovery started from scratch — when:
//
//   - a previous run marked it corrupt, or Pebble fails to open it;
//   - it was written for another Kafka cluster (the broker's data was wiped)
//     or another incarnation of the changelog topic (deleted and recreated),
//     or the changelog topic no longer exists;
//   - its offset is at or past the changelog's end offset (the changelog
//     lost records the store has), which goka would otherwise refuse with
//     "delete your local cache" or silently accept;
//   - it was not closed cleanly after it began processing (the process was
//     killed). Goka writes a table value locally before the changelog
//     acknowledges it, so such a store may hold values the changelog never
//     got; a processor that trusted them would skip redelivered input
//     whose effect exists nowhere else. As in Kafka Streams, local state
//     without a clean checkpoint is rebuilt from the changelog.
//
// The last three need Options.Changelog. A Kafka error other than "topic not
// found" fails Open rather than risk serving or wiping state on a guess; so
// does failing to lock the directory (another process or store has it).
func (s *Store) Open() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.db != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CheckTimeout)
	defer cancel()
	cache := s.parent.acquire(s)
	end, readable, err := s.open(ctx, cache)
	if err != nil {
		s.parent.release(s)
		return err
	}
	if !readable {
		return nil
	}
	// Recovery holds life shared, as every write does, so Stats and
	// metrics are answered meanwhile.
	s.life.Unlock()
	s.life.RLock()
	err = s.recoverOnOpen(end)
	s.life.RUnlock()
	s.life.Lock()
	if err != nil {
		s.closeLocked()
		return err
	}
	return nil
}

// open opens and checks the DB. When the changelog's tail could be
// checked, readable is true and the record at end − 1 exists: Open can
// read the changelog up to it.
func (s *Store) open(ctx context.Context, cache *pebble.Cache) (end int64, readable bool, err error) {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return 0, false, fmt.Errorf("state: create %s: %w", s.dir, err)
	}
	lock, err := pebble.LockDirectory(s.dir, vfs.Default)
	if err != nil {
		return 0, false, fmt.Errorf("state: lock %s (is it open elsewhere?): %w", s.dir, err)
	}
	po := s.opts.pebbleOptions(cache)
	po.Lock = lock
	po.Logger = pebbleLogger{log: s.log, fatal: s.fail}
	po.EventListener = s.eventListener()
	db, cur, reason, err := s.openChecked(ctx, po)
	if err == nil {
		err = s.writeMeta(db, cur)
	}
	var off int64
	var has bool
	if err == nil {
		end, readable = s.sealTail(ctx, cur)
		// check read the offset already; read it again to be safe.
		off, has, err = readOffset(db)
	}
	if err != nil {
		if db != nil {
			_ = db.Close()
		}
		_ = lock.Close()
		return 0, false, err
	}
	s.db, s.lock = db, lock
	s.wmu.Lock()
	s.offset, s.hasOffset, s.offsetDirty = off, has, false
	s.batch = db.NewBatchWithSize(int(min(s.opts.RecoveryBatchSize+s.opts.RecoveryBatchSize/4, 64<<20)))
	s.batchOps, s.pending, s.pendingBytes, s.batchBytes = 0, nil, 0, 0
	s.wmu.Unlock()
	s.recovered.Store(false)
	s.log.Debug("state: opened", "dir", s.dir, "offset", off, "has_offset", has, "rebuilt", reason)
	return end, readable, nil
}

// openChecked opens the store's Pebble DB and checks it against its
// changelog (check). A store marked for rebuild, one Pebble cannot open,
// and one that does not match its changelog is wiped and opened empty,
// to be rebuilt from the changelog: reason says why. cur is the
// changelog's identity when known. On error, db is nil.
func (s *Store) openChecked(ctx context.Context, po *pebble.Options) (db *pebble.DB, cur *ChangelogState, reason string, err error) {
	if r, ok := readMarker(s.dir); ok {
		reason = "marked for rebuild: " + r
	} else if db, err = openPebble(s.dir, po); err != nil {
		reason = fmt.Sprintf("pebble cannot open it: %v", err)
	}
	if reason == "" {
		if reason, cur, err = s.check(ctx, db); err != nil {
			_ = db.Close()
			return nil, nil, "", err
		}
	}
	if f := s.failed.Load(); reason == "" && f != nil {
		reason = *f // Pebble reported a fatal error while opening
	}
	if reason == "" {
		return db, cur, "", nil
	}
	if db != nil {
		if err := db.Close(); err != nil {
			s.log.Warn("state: closing store before rebuild", "dir", s.dir, "err", err)
		}
	}
	s.log.Warn("state: rebuilding local store from the changelog", "dir", s.dir, "reason", reason)
	if err := wipe(s.dir); err != nil {
		return nil, nil, "", fmt.Errorf("state: rebuild %s: %w", s.dir, err)
	}
	if db, err = openPebble(s.dir, po); err != nil {
		return nil, nil, "", fmt.Errorf("state: open %s after wiping it: %w", s.dir, err)
	}
	s.rebuilt = reason
	s.failed.Store(nil)
	if cur == nil && s.opts.Changelog != nil {
		// The store was unreadable, so check was skipped; record the
		// changelog's identity for the next open.
		if st, err := s.opts.Changelog.Describe(ctx, s.topic, s.partition); err == nil {
			cur = &st
		}
	}
	return db, cur, reason, nil
}

// sealTail makes sure goka's recovery of the partition can finish when
// the changelog's last offset holds no record (TailSealer). When it could
// make sure, ok is true and the record at end − 1 exists: a recovery that
// reads up to it has read everything the changelog held when it opened.
func (s *Store) sealTail(ctx context.Context, cur *ChangelogState) (end int64, ok bool) {
	ts, isSealer := s.opts.Changelog.(TailSealer)
	if !isSealer || cur == nil {
		return 0, false
	}
	sealed, err := ts.SealTail(ctx, s.topic, s.partition, cur.EndOffset)
	switch {
	case err != nil:
		// goka's recovery may wait forever on this partition: say so.
		s.log.Warn("state: cannot check the changelog tail; recovery may stall if its last offset holds no record",
			"dir", s.dir, "err", err)
		return 0, false
	case sealed:
		s.log.Info("state: sealed a changelog whose last offset held no record (compacted away or a transaction marker), so recovery can finish",
			"topic", s.topic, "partition", s.partition, "end_offset", cur.EndOffset)
		return cur.EndOffset + 1, true
	}
	return cur.EndOffset, true
}

// openPebble opens a Pebble DB, turning a panic on garbage (Pebble trusts
// some of what it reads) into an error.
func openPebble(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("pebble panicked: %v", r)
		}
	}()
	return pebble.Open(dir, po)
}

// check reads the store's records and compares them with the changelog. It
// returns a rebuild reason, or an error when it cannot decide.
func (s *Store) check(ctx context.Context, db *pebble.DB) (string, *ChangelogState, error) {
	if v, ok, err := getMeta(db, keyVersion); err != nil {
		return "unreadable: " + err.Error(), nil, nil
	} else if ok && v != formatVersion {
		return fmt.Sprintf("unknown layout version %q (want %s)", v, formatVersion), nil, nil
	}
	off, hasOff, err := readOffset(db)
	if err != nil {
		return "unreadable offset: " + err.Error(), nil, nil
	}
	if _, running, err := getMeta(db, keyRunning); err != nil {
		return "unreadable: " + err.Error(), nil, nil
	} else if running {
		return "it was not closed cleanly while processing (killed?): local writes may be ahead of the changelog", nil, nil
	}
	cluster, _, err := getMeta(db, keyClusterID)
	if err != nil {
		return "unreadable: " + err.Error(), nil, nil
	}
	topicID, _, err := getMeta(db, keyTopicID)
	if err != nil {
		return "unreadable: " + err.Error(), nil, nil
	}
	if s.opts.Changelog == nil {
		return "", nil, nil
	}
	cur, err := s.opts.Changelog.Describe(ctx, s.topic, s.partition)
	if errors.Is(err, ErrTopicNotFound) {
		empty, eerr := isEmpty(db)
		if eerr != nil {
			return "unreadable: " + eerr.Error(), nil, nil
		}
		if hasOff || !empty {
			return fmt.Sprintf("its changelog %s/%d does not exist", s.topic, s.partition), nil, nil
		}
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("state: cannot check %s against its changelog: %w", s.dir, err)
	}
	switch {
	case cluster != "" && cur.ClusterID != "" && cluster != cur.ClusterID:
		return fmt.Sprintf("it belongs to Kafka cluster %q but the broker is cluster %q", cluster, cur.ClusterID), &cur, nil
	case topicID != "" && cur.TopicID != "" && topicID != cur.TopicID:
		return fmt.Sprintf("its changelog topic %s was recreated (topic id %s, now %s)", s.topic, topicID, cur.TopicID), &cur, nil
	case hasOff && off >= cur.EndOffset:
		return fmt.Sprintf("its offset %d is not below the changelog's end offset %d", off, cur.EndOffset), &cur, nil
	}
	return "", &cur, nil
}

// writeMeta records the layout version and, when known, the changelog's
// identity, synced so a later open can rely on them.
func (s *Store) writeMeta(db *pebble.DB, cur *ChangelogState) error {
	b := db.NewBatch()
	defer func() { _ = b.Close() }()
	_ = b.Set(keyVersion, []byte(formatVersion), nil)
	_ = b.Set(keyTopic, []byte(s.topic+"/"+strconv.Itoa(int(s.partition))), nil)
	if cur != nil {
		if cur.ClusterID != "" {
			_ = b.Set(keyClusterID, []byte(cur.ClusterID), nil)
		}
		if cur.TopicID != "" {
			_ = b.Set(keyTopicID, []byte(cur.TopicID), nil)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("state: write metadata in %s: %w", s.dir, err)
	}
	return nil
}

func getMeta(db *pebble.DB, key []byte) (string, bool, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	out := string(v)
	_ = closer.Close()
	return out, true, nil
}

func readOffset(db *pebble.DB) (int64, bool, error) {
	v, ok, err := getMeta(db, keyOffset)
	if err != nil || !ok {
		return 0, false, err
	}
	off, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("state: decode offset %q: %w", v, err)
	}
	return off, true, nil
}

func isEmpty(db *pebble.DB) (bool, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: dataLower, UpperBound: dataUpper})
	if err != nil {
		return false, err
	}
	valid := it.First()
	if err := it.Close(); err != nil {
		return false, err
	}
	return !valid, nil
}

// wipe empties dir except for Pebble's lock file, which we hold.
func wipe(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == lockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func writeMarker(dir, reason string) error {
	return os.WriteFile(filepath.Join(dir, markerFile), []byte(reason+"\n"), 0o640)
}

func readMarker(dir string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// Close commits pending recovery writes, releases open iterators and closes
// the store (Pebble syncs its files on close). Calling it again, or on a
// store that never opened, does nothing.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	return s.closeLocked()
}

// closeLocked is Close; callers hold life exclusively.
func (s *Store) closeLocked() error {
	s.closed = true
	if s.db == nil {
		return nil
	}
	var errs []error
	s.wmu.Lock()
	if s.failed.Load() == nil {
		var err error
		if s.batch != nil {
			err = s.commitPending(s.batch, false)
		} else {
			err = s.commitPending(s.wbatch, false)
		}
		if err != nil {
			errs = append(errs, err)
		}
		// Clean only if the changelog acknowledged every processing write.
		// goka skips SetOffset for a record at changelog offset 0, so a
		// store that recovered nothing (its first write can be that
		// record) has one write of slack, and only that one.
		sets, acks := s.runningSets.Load(), s.runningAcks.Load()
		switch {
		case err != nil || s.batch != nil:
		case acks+s.runningSlack >= sets:
			if err := s.db.Delete(keyRunning, pebble.Sync); err != nil {
				errs = append(errs, fmt.Errorf("state: mark %s clean: %w", s.dir, err))
			}
		default:
			s.log.Warn("state: closing with writes the changelog has not acknowledged; the next open rebuilds",
				"dir", s.dir, "writes", sets, "acknowledged", acks)
		}
	}
	for _, b := range []*pebble.Batch{s.batch, s.wbatch} {
		if b != nil {
			_ = b.Close()
		}
	}
	s.batch, s.wbatch = nil, nil
	clear(s.pending)
	s.pendingBytes = 0
	s.wmu.Unlock()
	s.iterMu.Lock()
	iters := s.iters
	s.iters = make(map[*iterator]struct{})
	s.iterMu.Unlock()
	for it := range iters {
		it.release(fmt.Errorf("%w: it was closed while this iterator was open", ErrClosed))
	}
	if err := closePebble(s.db); err != nil {
		errs = append(errs, fmt.Errorf("state: close %s: %w", s.dir, err))
	}
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("state: unlock %s: %w", s.dir, err))
	}
	s.db, s.lock = nil, nil
	s.cache.reset()
	s.parent.release(s)
	return errors.Join(errs...)
}

func closePebble(db *pebble.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pebble panicked on close: %v", r)
		}
	}()
	return db.Close()
}
