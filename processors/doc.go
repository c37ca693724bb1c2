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
//   - A reading is decoded, validated, dead-lettered or re-keyed by device
//     (and each input partition's watermark mark sent to every readings
//     partition): ingest.go.
//   - A reading is applied to its device, and a closed window corrected
//     with a new revision: deviceState.apply in device.go (fed by
//     devices.onReading in devices.go); duplicates and too-late readings
//     are sorted out there too.
//   - The watermark is merged from the upstream marks on each partition's
//     control key: windowed.onMark in windowed.go, with the pure rules
//     (minimum over sources, idleness) in package watermark.
//   - A device window closes: windowed.advanceInline in windowed.go calls
//     devices.closeKey (devices.go) for every key due, and the closes ride
//     in the partition metadata write that advances the watermark
//     (partitionMeta.Closes, records.go), so no loopback round trip. A
//     device's own value is caught up lazily (devices.catchUpKey).
//   - A station window closes: windowed.sweep in windowed.go sends a close
//     per due key through the loopback, and stations.onLoop (stations.go)
//     closes it, clamped to the receiver's own watermark.
//   - The station rollup (a station window is the sum of its device
//     windows; DEVICES counts them) and its corrections: station.go
//     (stationState.apply, close), fed by stations.onRow.
//   - Rows are published: publish.go turns changelog records' outboxes
//     into sink records (and a device partition's Closed into marks for the
//     station partitions), run by the emitter relays (package emitter).
//   - Binary layouts of table values and internal topics: encoding.go (the
//     primitives, device values, outboxes), records.go (readings, marks,
//     loopback messages, partition metadata, control keys), station.go
//     (device rows on station-updates, station values). Changing one means
//     a new encodingVersion and still reading the old.
//   - The topology, the graph described once: each stage's group, input,
//     loopback and table (from its goka group graph), relay, outputs,
//     upstream stage and the topics it owns, from which the topics to
//     create, the consumer groups for lag and Run's wiring derive:
//     topology.go.
//   - Replay generations: generation.go; queries of the local tables:
//     query.go; metrics: metrics.go; topic creation: topics.go.
package processors
