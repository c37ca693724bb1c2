// Package schemas holds the Avro schemas of the turnstile pipeline (embedded
// .avsc files), the plain Go types that mirror them, the default topic names
// and their Schema Registry subjects, and the library functions behind
// `turnstile schemas register|check|list`.
//
// Schemas (namespace nyc.mta.turnstile):
//
//   - TurnstileReading v1: the original stream message, field for field:
//     CA, UNIT, SCP, STATION, LINENAME, DIVISION, DATE (MM-DD-YY),
//     TIME (HH:MM:SS), DESC, ENTRIES, EXITS (long, cumulative registers),
//     ID (UUID), TIMESTAMP (YYYY-MM-DD HH:MM:SS, UTC unless it has a zone).
//   - TurnstileReading v2: v1 plus EVENT_TIME (nullable timestamp-millis)
//     and SOURCE (nullable string), both defaulting to null, so v1 and v2
//     are backward and forward compatible.
//   - TurnstileWindow: one closed event-time window of one device.
//   - StationWindow: one closed event-time window of one station.
//
// DATE and TIME fields are local clock readings, as in the MTA's files
// (New York time, [DefaultTimeZone]); TIMESTAMP, EVENT_TIME, START and END
// are instants. [LoadTimeZone] reads a zone name; the zone database is
// compiled in.
//
// Keys: [DeviceKey] and [StationKey] build the keys of every keyed topic;
// [Partition] and [Partitioner] place a key on its partition exactly as goka
// does (FNV-1a through sarama's hash partitioner), the one such mapping in
// the module: the processors, the relays and the producer all use it.
//
// Subjects follow the TopicNameStrategy: the value schema of topic T is
// registered under "T-value" (see [Subject] and [Topics.Registrations]).
//
// Concurrency: everything in this package is safe for concurrent use. The
// schema texts are immutable (embedded at build time); the Go types are plain
// values with no shared state; Register, Check and List each build their own
// HTTP client per call unless one is given, and hold no state between calls.
package schemas
