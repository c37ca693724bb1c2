// Package emitter publishes what a goka table decided to emit, from the
// table's changelog topic: the transactional-outbox pattern without Kafka
// transactions.
//
// The name is the pipeline's: this is the stage that emits closed windows
// to the sink topics. It is not goka's Emitter, which is a producer a
// program calls; nothing here is called from a goka callback.
//
// A windowed processor does not produce closed windows itself. It writes
// them into the outbox of the key's table value, in the same SetValue as
// the state change, so they become visible exactly when the state is
// durable in the changelog. A Relay consumes the changelog with its own
// consumer group, turns each record's outbox into output records (a
// Translate function owned by the processor), produces them, waits for the
// broker's acknowledgements, and only then commits its changelog offsets.
//
// What this buys:
//   - nothing is published that the changelog does not have, so a crash can
//     never publish a revision whose state was lost and later publish the
//     same (key, revision) with other content;
//   - nothing in the changelog is lost: offsets are committed after the
//     outputs are acknowledged, so a crash republishes, and the outbox rows
//     are complete, so a republication is byte-identical (a harmless
//     duplicate downstream).
//
// The changelog must keep intermediate records until the relay has read
// them: create it with min.compaction.lag.ms well above the relay's worst
// lag (see Lag). The embedded broker compacts hourly and never the newest
// batch.
//
// Concurrency: Run blocks until its context ends; each Relay runs one
// consumer-group member. Translate and Recycle are called from that
// goroutine only, OnPublished from the producer's; Recycle comes after a
// flush that had every record Translate returned since the last one
// acknowledged, so a Translate may build its records in memory it reuses
// from then on.
package emitter
