// Package processors is the turnstile stream processor: the goka group
// graph that turns validated readings into event-time windows per device
// and per station, closes them by a watermark, corrects them with late
// readings, and publishes them through the emitter relay. [Pipeline] runs
// one member of the graph (or the stages named in Config.Run) and answers
// the HTTP queries of package httpapi from its local table.
//
// # The graph
//
//	input ──► turnstile-ingest ──► readings ──► turnstile-windows ──(changelog)──► relay ──► device windows, station windows, late
//
// The ingest stage decodes, validates and dead-letters input records and
// re-keys each reading by its reading key (STATION|LINENAME|CA|UNIT|SCP)
// with the pipeline's partitioner, which places a key by its station
// (schemas.Partition): every device of a station is on one partition of
// the windowed stage. That stage's table holds each device's
// windows.Device and each partition's metadata; the station rollup needs
// no state or hop of its own. Nothing is produced to a sink topic from a
// callback: windows are written into the outbox of the table value that
// decided them (a device's, or the partition metadata's for the closes)
// and the relay of package emitter publishes them from the changelog.
//
// # Concurrency
//
// goka runs one goroutine per partition per group, and a partition's
// callbacks run one at a time on it. The state that belongs to a partition
// is touched only from that goroutine: its partClock (the watermark, the
// index of next closes, the devices of each station, clock.go) and the
// clock's memo of decoded values (memo.go), and, in the ingest stage, the
// partition's watermark.Source. The maps that hold them per partition
// (stage.clocks, ingest's sources, the storageTracker) are shared between
// partitions and guarded by a mutex; a clock is rebuilt from the local
// table whenever goka opens the partition's storage again (a rebalance, a
// restart, a recovery).
//
// Beside goka's goroutines each member runs, under a supervisor that
// restarts them with backoff (pipeline.go): the relay (an emitter.Relay,
// its own consumer group on the table's changelog, translating with
// publish.go) and per group one ticker (ticker.go), which sends a tick to
// every partition's control key on the loopback topic every
// Config.TickInterval; the ingest ticker also says whether the partition
// is caught up with its input (internal/grouplag's lag) and how long its
// input log has not grown. Metrics and query
// state are safe for concurrent use; a Pipeline's methods may be called
// from any goroutine while Run runs.
//
// # Where things happen
//
// The window semantics (what a reading contributes, when a window closes,
// the too-late cut, when a change publishes a correction, the station
// rollup) are package windows; every byte layout is package wire. This
// package is the goka runtime around them:
//
//   - A reading is decoded, validated, dead-lettered or re-keyed (and each
//     input partition's watermark mark sent to every readings partition):
//     ingest.go.
//   - A reading reaches its device's state (windows.Device.Apply, with its
//     station's other devices as windows.Peers for a station correction),
//     or the late topic when it is too late: stage.apply in stage.go.
//   - The watermark is merged from the marks on each partition's control
//     key: stage.onMark in stage.go, with the pure rules (minimum over
//     sources, idleness) in package watermark.
//   - Watermark alignment (the direct layout): after every mark and tick
//     a partition whose input runs ahead pauses, or resumes, its input
//     partition through the goka processor's sarama consumer group, whose
//     Pause and Resume are safe from the partition's goroutine:
//     stage.align in align.go, with the rule in watermark.Align.
//   - Windows close, device and station alike: stage.advance in closes.go,
//     the one close mechanism. It closes every device due
//     (windows.Device.Close) and writes their rows and their station
//     rollup (windows.RollUp) in the metadata write that advances the
//     watermark (wire.PartitionMeta). A device's own value is caught up
//     lazily by its readers (windows.Device.CatchUp).
//   - Rows are published: publish.go turns changelog records into sink
//     records, run by the relay (package emitter).
//   - The partition clock: clock.go; the memo of decoded values: memo.go;
//     control keys: keys.go; the refusal of the two-stage pipeline's state:
//     layout.go.
//   - The topology, the graph described once: each stage's group, input,
//     loopback and table (from its goka group graph), relay, outputs,
//     upstream stage and the topics it owns, from which the topics to
//     create, the consumer groups for lag and Run's wiring derive:
//     topology.go.
//   - Replay generations: generation.go; queries of the local tables:
//     query.go; metrics: metrics.go; topic creation: topics.go.
//
// The stage's behaviour without Kafka is tested by a harness driven by the
// files in testdata/stage (stage_test.go).
package processors
