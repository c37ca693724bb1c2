// Package state is a goka storage.Storage on Pebble: one Pebble instance per
// table partition under a state directory (<Dir>/<topic>.<partition>),
// plugged into goka with
//
//	goka.WithStorageBuilder(state.Builder(state.Options{Dir: dir, Changelog: cl}))
//
// It has the semantics of goka's own storages (Get of a missing key returns
// nil, nil; the offset never shows in iteration; IteratorWithRange with an
// empty limit iterates the keys with prefix start, as goka's LevelDB storage
// does), with three differences in how it treats the disk:
//
//   - Recovery is batched. Until MarkRecovered, Set/Delete go into one
//     unsynced Pebble batch that SetOffset commits, together with the offset,
//     once it reaches Options.RecoveryBatchSize (or has waited
//     Options.RecoveryFlushInterval). MarkRecovered commits the rest with one
//     fsync. Because goka calls SetOffset after applying the record it names,
//     and a batch commits atomically, a crash never leaves an offset ahead of
//     the data it covers; it can only leave data ahead of the offset, which a
//     replay of the changelog overwrites with the same values.
//   - Open recovers the store itself when Options.Changelog is also a
//     ChangelogReader (KafkaChangelog is): it reads the changelog partition
//     from the store's offset to the end it listed, with franz-go fetching
//     the next records while it applies the last, into the same batch, for
//     at most Options.RecoverOnOpen. goka's recovery then reads whatever is
//     left, usually nothing (goka's sarama consumer alternates fetching and
//     applying: measured at half the rate).
//   - After MarkRecovered nothing is synced per write: the changelog is the
//     source of truth. Set and Delete replace the key's write in a buffer
//     that Pebble gets as one unsynced batch of each key's latest value
//     when it reaches Options.WriteBufferSize, when an iterator opens, and
//     at a clean Close; reads look in it before Pebble. A negative
//     WriteBufferSize makes each write one unsynced Pebble write instead.
//     Goka calls SetOffset when the changelog acknowledges a table write;
//     the offset is kept in memory and written by a clean Close. A store
//     stopped any other way is rebuilt from the changelog on its next Open
//     (the running marker, below), so an offset written during processing
//     would never be read; leaving it out saves a commit per write.
//   - Open checks the store before goka uses it and rebuilds it (empties its
//     directory, logging why at warning level) when Pebble cannot open it or
//     found corruption earlier, when it was written for another Kafka cluster
//     or another incarnation of the changelog topic, or when its offset is at
//     or past the changelog's end. Goka would fail with "delete your local
//     cache" or silently skip recovery instead. See Store.Open.
//
// [CheckDir] checks, before a member joins any consumer group, that a
// state directory can be created and written.
//
// Pebble's own log lines go to Options.Logger, never to stdout/stderr, and a
// Pebble "fatal" error poisons the store instead of exiting the process.
//
// # Concurrency
//
// Goka drives a partition's storage from its partition goroutine (Set,
// Delete, Get, recovery), but not only from it: SetOffset after a table write
// runs in the producer's callback goroutine once the changelog record is
// acknowledged, views and Processor.Get read while the partition writes, and
// iterators may be open while it writes. All methods of Store are therefore
// safe for concurrent use. An iterator sees a snapshot taken when it was
// created and is for one goroutine at a time; Close releases iterators still
// open (their Next returns false and Err says why). Reads while recovering
// first commit the pending batch, so they see every write made before them.
package state
