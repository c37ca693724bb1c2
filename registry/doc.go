// Package registry is an embedded Schema Registry that speaks the Confluent
// Schema Registry REST API (the subset Avro producers and consumers use:
// register, look up, fetch by id or version, list, soft and permanent
// delete, compatibility configuration and checks) and keeps its state in a
// compacted Kafka topic (default "_schemas") in Confluent's own record
// format, so a restarted registry serves the same ids and versions.
//
// Only AVRO schemas are supported; compatibility (NONE, BACKWARD, FORWARD,
// FULL and their _TRANSITIVE variants) is decided by hamba/avro's
// SchemaCompatibility and enforced on registration.
//
// Start creates the topic when it is missing (1 partition,
// cleanup.policy=compact, the cluster's default replication), replays it to
// its end, then serves HTTP. Every change is produced synchronously and
// applied in memory only after the broker acknowledged it.
//
// Handler serves the API at the root of its server; mount it under a
// prefix with http.StripPrefix.
//
// Concurrency: a Server is safe for concurrent use by any number of HTTP
// requests. Reads are served from memory under a read lock and keep working
// while Kafka is unreachable. Writes (register, delete, config changes) are
// serialized by one write lock held from validation until Kafka has settled
// the write, so ids and versions are assigned without races and memory
// follows the topic in order; a request whose write Kafka has not settled
// within 30 seconds is answered with error 50002 while the write finishes
// in the background. The registry assumes it is the only writer of its
// topic: run a single instance per topic. A second instance would not see
// the first one's later writes and could hand out the same ids.
package registry
