// Package datalake is the lake-writer: it consumes the sink topics of closed
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
//	<lake>/device-windows/_staging/dt=.../part-..., _staging/_rejected/part-...   (a batch before its commit)
//	<lake>/station-windows/...                                       (the same)
//
// dt is the date of the window end in Config.TimeZone (default
// America/New_York), which is also the DATE column. DATE and TIME are local
// clock readings, as in the MTA files and the warehouse: a device window's
// come with the record (the pipeline formats them in its --time-zone), a
// station window's are its end formatted in Config.TimeZone; START and END
// in Parquet are the instants.
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
// metadata names the topic, partition and offset range of the batch. The
// CSV columns, the Parquet rows and their conversions are generated from
// the records' one declaration in schemas (window_gen.go; see the schemas
// package documentation).
//
// # Exactly once
//
// Each assigned topic-partition buffers decoded windows in offset order. A
// flush (FlushInterval after the oldest buffered record, FlushRecords
// records or FlushBytes bytes, partition revocation, or the end of Run's
// context) writes, per partition, one file per date partition and format,
// named by the batch's topic, partition and first and last offset, in
// three steps:
//
//  1. stage: every file of the batch under <dataset>/_staging/, at the
//     path it will have (_staging/dt=2024-01-06/part-...);
//  2. commit: the partition's checkpoint, which says every record below
//     next_offset is in the lake;
//  3. publish: each staged file moved to its final key (a rename in a
//     directory; a server-side copy, then a delete of the staged object,
//     in a bucket).
//
// Every file appears atomically: a local file under a temporary name,
// fsynced, renamed, its directory fsynced; an object by the upload's
// completion (S3 PutObject or CompleteMultipartUpload, a Cloud Storage
// upload's finalization) or the copy's, since an object store shows the
// whole object or none of it. Object stores have no rename and no way to
// make several objects appear at once, hence the staging: what readers see
// under dt= and _rejected is committed data only, file by file. A file
// there is created once and never deleted, except by Compact.
//
// Only then are the group offsets committed, and they are a copy for lag
// monitoring. On assignment the writer reads the checkpoint and cleans up
// what a crash left: staged files at or above it (a crash before the
// commit) are deleted, whatever the boundaries of that batch were, so the
// re-read batch may have other boundaries and nothing is in two files;
// staged files below it (a crash after the commit, while publishing) are
// published, unless already there (a bucket copy done, its delete not: the
// staged object is deleted, nothing copied twice). Then it consumes from
// the checkpoint, not from the committed offset. Records below a
// partition's checkpoint are never written again: a publish that fails
// after the commit is retried from staging by the next flush, never
// re-staged. Without a checkpoint a partition is read from the start of
// the topic.
//
// So a lake-writer killed at any point leaves readers no partial file, no
// record twice and no uncommitted record; killed while publishing, it
// leaves a committed batch partly published (say its CSV.gz out and its
// Parquet not) until a lake-writer takes the partition again. Lakes
// written before staging published before the commit; their files at or
// above a checkpoint are deleted on assignment as before.
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
// finds a file straddling its checkpoint.
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
// (excluding the inputs it lists while it exists) never does. A part file
// whose staged copy still exists is not an input (a later compaction takes
// it), so recovery never publishes again what a compaction replaced.
//
// # Object storage
//
// Open takes a directory or a gocloud.dev/blob URL: file:// (fileblob),
// mem:// (memblob), s3:// (s3blob) and gs:// (gcsblob). The s3 and gs
// drivers are always linked; they add about 29 MB (stripped; 44 to 74 MB)
// and 46 modules to cmd/turnstile. A path after the bucket
// ("s3://bucket/some/prefix") is the key prefix.
//
// s3:// takes credentials from the usual AWS environment
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, a role) and the
// query parameters of gocloud.dev/aws: region=, and for MinIO or another
// S3-compatible store endpoint=http://host:9000 with use_path_style=true:
//
//	s3://turnstile-lake/lake?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true
//
// gs:// takes Google application default credentials; with
// STORAGE_EMULATOR_HOST=host:port it talks, unauthenticated, to an
// emulator such as fake-gcs-server. A publish costs a copy and a delete
// (S3: CopyObject, HeadObject, DeleteObject) per file beyond the upload.
// The tests run every scheme against servers that speak the real APIs,
// in process: gofakes3 for S3 and fake-gcs-server for Cloud Storage.
//
// # Concurrency
//
// A Writer is one consumer-group member: Run blocks until its context
// ends and must not be called twice at once; Stats may be called from any
// goroutine. Config.Pacer's Wait is called from Run's goroutine, between
// polls. Run's loop, the group's partition callbacks and the flush
// goroutines share the partition buffers under one mutex; polls and
// revocations are gated by franz-go's BlockRebalanceOnPoll, so a flush never
// commits offsets of a partition this member no longer owns. Up to
// Config.Parallelism partitions are written at once. OnFile is called from
// the flushing goroutine. Compact must not run concurrently with another
// Compact of the same lake; it may run while writers run. A Store is safe
// for concurrent use. The package keeps pools (sync.Pool) of local
// files' write buffers and gzip encoders, shared by every Writer and
// Compact; they hold no data between files.
package datalake
