package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ChangelogReader is implemented by a ChangelogInfo that can read a
// changelog partition. A store whose Options.Changelog is one recovers
// itself when it opens (Options.RecoverOnOpen); KafkaChangelog is one.
type ChangelogReader interface {
	// ReadChangelog calls apply with the partition's records in offset
	// order, from offset from (or the partition's first, when retention
	// or compaction removed from) until it has called it with the record
	// at offset to − 1, which must exist. A nil value is a tombstone. key
	// and value are only valid during the call. It returns apply's first
	// error, or ctx's.
	ReadChangelog(ctx context.Context, topic string, partition int32, from, to int64,
		apply func(key, value []byte, offset int64) error) error
}

var _ ChangelogReader = (*KafkaChangelog)(nil)

// readFetchBytes is how much one fetch of a changelog partition asks for.
// franz-go sends the next fetch as soon as the last one is taken, so one
// fetch is applied while the next is on its way: the store's recovery
// keeps the fetched bytes of two fetches at most.
const readFetchBytes = 4 << 20

// ReadChangelog implements ChangelogReader with a franz-go client of its
// own that consumes the one partition (read_uncommitted, as goka's
// recovery reads it).
func (k *KafkaChangelog) ReadChangelog(ctx context.Context, topic string, partition int32, from, to int64,
	apply func(key, value []byte, offset int64) error) error {
	if from >= to {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(k.opts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		// An offset retention or compaction removed: start at the oldest
		// there is, as goka does.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxPartitionBytes(readFetchBytes), kgo.FetchMaxBytes(readFetchBytes),
		kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		return fmt.Errorf("state: kafka client: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if errs := fs.Errors(); len(errs) > 0 {
			// franz-go retries what can be retried; what it returns ends
			// this read (the caller leaves the rest to goka).
			return fmt.Errorf("state: read %s/%d: %w", topic, partition, errs[0].Err)
		}
		done := false
		var aerr error
		fs.EachRecord(func(r *kgo.Record) {
			if done || aerr != nil || r.Offset < from {
				return
			}
			if aerr = apply(r.Key, r.Value, r.Offset); aerr == nil && r.Offset >= to-1 {
				done = true
			}
		})
		if aerr != nil || done {
			return aerr
		}
	}
}

// recoverOnOpen reads the changelog from the store's offset up to end
// into the recovery batch, for at most Options.RecoverOnOpen, as goka's
// recovery would apply it (a nil value deletes the key, every record's
// offset is stored with the writes it covers). goka then recovers from
// wherever it stopped: nothing, when it read up to end. A read that fails
// is logged and left to goka; the error is the store's own (a write that
// failed). Called by Open with life held shared, before goka sees the
// store, whose value cache is still empty (nothing to invalidate).
func (s *Store) recoverOnOpen(end int64) error {
	r, ok := s.opts.Changelog.(ChangelogReader)
	if !ok || s.opts.RecoverOnOpen < 0 {
		return nil
	}
	s.wmu.Lock()
	from := int64(0)
	if s.hasOffset {
		from = s.offset + 1
	}
	s.wmu.Unlock()
	if from >= end {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RecoverOnOpen)
	defer cancel()
	begin := time.Now()
	lastLog := begin
	var records int64
	var werr error
	apply := func(key, value []byte, offset int64) error {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.keyBuf = append(append(s.keyBuf[:0], dataPrefix), key...)
		if werr = s.recoveryWrite(s.keyBuf, value, value == nil); werr == nil {
			werr = s.recoveryOffset(offset)
		}
		if werr != nil {
			return werr
		}
		records++
		s.openRecovered.Add(1)
		if records%65536 == 0 && time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			s.log.Info("state: recovering from the changelog", "offset", offset, "end_offset", end,
				"records", records, "elapsed", time.Since(begin).Round(time.Millisecond))
		}
		return nil
	}
	err := r.ReadChangelog(ctx, s.topic, s.partition, from, end, apply)
	took := time.Since(begin)
	switch {
	case werr != nil:
		return fmt.Errorf("state: recover %s from its changelog: %w", s.dir, werr)
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Info("state: recovery on open reached its time limit; goka recovers the rest",
			"records", records, "end_offset", end, "limit", s.opts.RecoverOnOpen)
	case err != nil:
		s.log.Warn("state: cannot read the changelog on open; goka recovers it", "records", records, "err", err)
	default:
		s.log.Debug("state: recovered on open", "records", records, "from", from, "end_offset", end,
			"took", took.Round(time.Millisecond), "records_per_s", int64(float64(records)/max(took.Seconds(), 1e-9)))
	}
	return nil
}
