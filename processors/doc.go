// Package processors is the turnstile stream processor: the goka group graph
// that turns validated readings into event-time windows per device and per
// station, closes them by a watermark, corrects them with late readings, and
// publishes them through the emitter relays. [Pipeline] runs one member of
// the whole graph (or the stages named in Config.Run) and answers the HTTP
// queries of package httpapi from its local tables.
//
// # The graph
//
//	input ──► turnstile-ingest ──► readings ──► turnstile-windows ──(changelog)──► device relay ──► device windows, late
//	                                                                                   │
//	                                                                             station-updates
//	                                                                                   ▼
//	                                            station-windows ──(changelog)──► station relay ──► station windows
//
// Each goka group has a loopback topic (ticks; station closes) and
// the two windowed groups a table in Pebble (package state) backed by its
// changelog topic. Nothing is produced to a sink topic from a callback:
// windows are written into the outbox of the table value that decided them
// and the relay of package emitter publishes them from the changelog.
//
// # Concurrency
//
// goka runs one goroutine per partition per group, and a partition's
// callbacks run one at a time on it. The state that belongs to a partition
// is touched only from that goroutine: its partClock (the watermark, the
// index of next closes, clock.go) and the clock's memo of decoded values
// (memo.go), and, in the ingest stage, the partition's watermark.Source.
// The maps that hold them per partition (windowed.clocks, ingest's
// sources, the storageTracker) are shared between partitions and guarded
// by a mutex; a clock is rebuilt from the local table whenever goka opens
// the partition's storage again (a rebalance, a restart, a recovery).
//
// Beside goka's goroutines each member runs, under a supervisor that
// restarts them with backoff (pipeline.go): per windowed group one relay
// (an emitter.Relay, its own consumer group on the table's changelog,
// translating with publish.go) and per group one ticker (ticker.go), which
// sends a tick to every partition's control key on the loopback topic
// every Config.TickInterval; the ingest ticker also says whether the
// partition is caught up with its input (internal/grouplag's lag). Metrics
// and query state are safe for concurrent use; a Pipeline's methods may be
// called from any goroutine while Run runs.
//
// # Where things happen
//
// The window semantics (what a reading contributes, when a window closes,
// when a change publishes a correction, the station rollup) are package
// windows; every byte layout is package wire. This package is the goka
// runtime around them:
//
//   - A reading is decoded, validated, dead-lettered or re-keyed by device
//     (and each input partition's watermark mark sent to every readings
//     partition): ingest.go.
//   - A reading reaches its device's state (windows.Device.Apply), or the
//     late topic when it is too late: devices.onReading in devices.go.
//   - The watermark is merged from the upstream marks on each partition's
//     control key: windowed.onMark in windowed.go, with the pure rules
//     (minimum over sources, idleness) in package watermark.
//   - Device windows close: windowed.advanceInline in windowed.go calls
//     devices.closeKey (devices.go) for every key due, and the closes ride
//     in the partition metadata write that advances the watermark
//     (wire.PartitionMeta.Closes), so no loopback round trip. A device's
//     own value is caught up lazily (devices.catchUpKey).
//   - Station windows close: windowed.sweep in windowed.go sends a close
//     per due key through the loopback, and stations.onLoop (stations.go)
//     closes it, clamped to the receiver's own watermark; a device row
//     reaches its station's state (windows.Station.Apply) in
//     stations.onRow.
//   - Rows are published: publish.go turns changelog records' outboxes
//     into sink records (and a device partition's Closed into marks for the
//     station partitions), run by the emitter relays (package emitter).
//   - The partition clock (watermark, index of next closes): clock.go; the
//     memo of decoded values: memo.go; control keys: keys.go.
//   - The topology, the graph described once: each stage's group, input,
//     loopback and table (from its goka group graph), relay, outputs,
//     upstream stage and the topics it owns, from which the topics to
//     create, the consumer groups for lag and Run's wiring derive:
//     topology.go.
//   - Replay generations: generation.go; queries of the local tables:
//     query.go; metrics: metrics.go; topic creation: topics.go.
package processors
