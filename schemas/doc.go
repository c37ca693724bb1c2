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
// # The sink records, declared once
//
// [DeviceWindow] (the TurnstileWindow record) and [StationWindow] are each
// declared once, in types.go: a struct whose avro tags name the fields of
// its Avro schema. What else spells a record out is generated from that
// declaration by go generate ./schemas (schemas/internal/recordgen) and
// checked in: the window codecs' goavro native form and field setters
// (codecs/window_gen.go), the JSON the dashboard serves
// (dashboard/window_gen.go), and the lake's CSV columns and Parquet rows
// (datalake/window_gen.go). The generator refuses a declaration that
// disagrees with its schema (an Avro field without a Go field of a
// compatible type, a Go field without an Avro field), and a test fails
// when a checked-in file is not what the declarations generate. To add a
// field, add it to the .avsc and to the declaration, then run go generate.
//
// Generated rather than reflected at run time, because: the Parquet rows
// must be Go structs parquet-go reads and writes, and a station row is not
// the record (its columns are the warehouse's CSV layout, with DATE and
// TIME, then the record's other fields), which a struct tag cannot say;
// the relay encodes one record per published row, and generated code fills
// goavro's map with no reflection and no closures per record; and what the
// codecs, the dashboard and the lake do with each field stays plain code
// that one can read and grep.
//
// DATE and TIME fields are local clock readings, as in the MTA's files
// (New York time, [DefaultTimeZone]); TIMESTAMP, EVENT_TIME, START and END
// are instants. [LoadTimeZone] reads a zone name; the zone database is
// compiled in.
//
// Keys (keys.go): [DeviceKey] and [StationKey] build the keys of every
// keyed topic, [DeviceWindowKey] and [StationWindowKey] those of the sink
// topics (CA|UNIT|SCP|START and STATION|LINENAME|START, START in
// [WindowKeyTime]), each with its split; [Partition] and [Partitioner]
// place a key on its partition exactly as goka does (FNV-1a through
// sarama's hash partitioner), the one such mapping in the module: the
// processors, the relays and the producer all use it.
//
// Subjects follow the TopicNameStrategy: the value schema of topic T is
// registered under "T-value" (see [Subject] and [Topics.Registrations]).
//
// Concurrency: everything in this package is safe for concurrent use. The
// schema texts are immutable (embedded at build time); the Go types are plain
// values with no shared state; Register, Check and List each build their own
// HTTP client per call unless one is given, and hold no state between calls.
package schemas
