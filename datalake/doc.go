// Package lake is the lake-writer: it consumes the sink topics of closed
// windows (mta-turnstile-windows, mta-station-windows) with a franz-go
// consumer group and writes them as files, exactly once, to a local
// directory or an object store, and it compacts date partitions so that
// readers that do not deduplicate see one row per window.
//
// # Layout
//
//	<lake>/device-windows/dt=2024-01-06/part-<topic>-<partition>-<first>-<last>.csv.gz
//	<lake>/device-windows/dt=2024-01-06/part-<topic>-<partition>-<first>-<last>.parquet
//	<lake>/device-windows/dt=2024-01-06/compacted-<hash>.csv.gz      (after Compact)
//	<lake>/device-windows/dt=2024-01-06/compacted-<hash>.parquet
//	<lake>/device-windows/_checkpoints/<topic>-<partition>.json
//	<lake>/device-windows/_rejected/part-<topic>-<partition>-<first>-<last>.jsonl
//	<lake>/station-windows/...                                       (the same)
//
// dt is the UTC date of the window end, which is also the DATE column.
// Offsets in names are zero-padded to 20 digits, so names sort by offset.
// Names starting with "_" or "." are not data (Hive-style readers skip them);
// data files match dt=*/*.parquet and dt=*/*.csv.gz.
//
// CSV.gz files are what the warehouse's external table loads, byte for byte
// after decompression what pandas' to_csv writes: a header, a leading
// unnamed index column 0..n-1 per file (Format.NoCSVIndex drops it), minimal
// quoting, "\n" line ends. Device windows have the columns
// CA,UNIT,SCP,STATION,LINENAME,DIVISION,DATE,TIME,DESC,ENTRIES,EXITS with
// DATE (MM/DD/YYYY) and TIME (HH:MM:SS) the window end. Station windows have
// STATION,LINENAME,DIVISION,DATE,TIME,ENTRIES,EXITS,DEVICES (DATE and TIME
// again the window end). CSV has no REVISION: a later revision of a window
// is a later row (see Corrections).
//
// Parquet files (parquet-go, zstd, dictionary-encoded strings, row groups
// of at most RowGroupRows rows) have the CSV columns plus START and END
// (TIMESTAMP(MILLIS, UTC)), REVISION, GENERATION and EMITTED_AT
// (TIMESTAMP(MILLIS, UTC)); see DeviceRow and StationRow. Their key-value
// metadata names the topic, partition and offset range of the batch.
//
// # Exactly once
//
// Each assigned topic-partition buffers decoded windows in offset order. A
// flush (FlushInterval after the oldest buffered record, FlushRecords
// records or FlushBytes bytes, partition revocation, or the end of Run's
// context) writes, per partition, one file per date partition and format,
// named by the batch's topic, partition and first and last offset, then the
// partition's checkpoint. Every file appears atomically (temporary name,
// fsync, rename, directory fsync locally; the blob writer's Close for
// buckets). The checkpoint is the batch's commit point: it says every
// record below next_offset is in the lake. Only then are the group offsets
// committed, and they are a copy for lag monitoring: on assignment the
// writer reads the checkpoint, deletes the partition's files at or above it
// (what a crash between data files and checkpoint left, whatever the
// boundaries of that batch were) and starts consuming at the checkpoint,
// not at the committed offset. So after any crash every record is in
// exactly one committed file: a re-read batch may have other boundaries,
// but the files of the batch it replaces are gone before it is written.
// Records below a partition's checkpoint are never written again. Without a
// checkpoint a partition is read from the start of the topic.
//
// A record that can never decode (codecs.RejectError, a tombstone, bytes
// from another producer) is written with its batch to
// <dataset>/_rejected/part-....jsonl (topic, partition, offset, timestamp,
// key and value in base64, reason, error), logged and counted in
// Stats.Rejected: never silently lost, and exactly once like the windows.
// While the schema registry is unreachable (codecs.IsRetryable), decoding
// is retried with backoff and nothing is written or committed.
//
// Two lake-writers must not share a lake unless they are members of the
// same group (partitions are disjoint). A member that lost its partitions
// without noticing (a long GC pause past the session timeout) can still
// finish a flush while the new owner starts; there is no fencing on plain
// object stores. The new owner's start-up check refuses to continue when it
// finds a committed file reaching past its checkpoint.
//
// # Corrections and compaction
//
// A later revision of a window is a later record of the same sink key, so
// it lands in a later file of the same partition. Compact rewrites a date
// partition into compacted-<hash>.{parquet,csv.gz} keeping the highest
// (GENERATION, REVISION) of each window, with a _compaction-<hash>.json
// manifest written first and deleted last; see Compact for the crash
// protocol. Between writing the compacted files and deleting their inputs
// (milliseconds, or until a crashed compaction is re-run) a reader that
// globs the directory sees both; a reader that honours the manifest
// (excluding the inputs it lists while it exists) never does.
//
// # Object storage
//
// Open takes a directory or a gocloud.dev/blob URL. file:// (fileblob) and
// mem:// (memblob) are always available. s3:// and gs:// need their drivers,
// which add about 45 MB and some 45 modules to the binary; build with
//
//	go build -tags lakecloud ./cmd/turnstile
//
// to link gocloud.dev/blob/s3blob and gocloud.dev/blob/gcsblob (credentials
// come from the usual AWS and Google environment). A path after the bucket
// ("s3://bucket/some/prefix") is the key prefix.
//
// # Concurrency
//
// A Writer is one consumer-group member: Run blocks until its context
// ends and must not be called twice at once; Stats may be called from any
// goroutine. Run's loop, the group's partition callbacks and the flush
// goroutines share the partition buffers under one mutex; polls and
// revocations are gated by franz-go's BlockRebalanceOnPoll, so a flush never
// commits offsets of a partition this member no longer owns. Up to
// Config.Parallelism partitions are written at once. OnFile is called from
// the flushing goroutine. Compact must not run concurrently with another
// Compact of the same lake; it may run while writers run. A Store is safe
// for concurrent use.
package datalake
