// Package codecs encodes and decodes the pipeline's records in the Confluent
// Schema Registry wire format: magic byte 0, the schema id as a big-endian
// int32, then the Avro binary body (goavro, and direct code for the hot
// records: see below), with schemas kept in a Confluent-compatible
// registry (srclient).
//
// [ReadingCodec] (TurnstileReading, a goka.Codec) and [DeviceWindowCodec] /
// [StationWindowCodec] (the emitted windows) share one engine. What a
// window codec does with each field of its record is generated from the
// record's one declaration in schemas (window_gen.go): encoding appends the
// record's Avro binary directly (one allocation, the payload; checked byte
// for byte against goavro's encoding of the same record in
// window_encode_test.go), decoding sets each field from the decoded value
// (by the direct plan below, or goavro's). The engine:
//
//   - Encoding resolves the writer schema id once, by register-or-lookup
//     under the codec's subject (Config.LookupOnly: lookup only), on the
//     first Encode or on Prepare, and caches it.
//   - Decoding fetches each writer schema id once (GET /schemas/ids/{id} and,
//     for the subject check, GET /schemas/ids/{id}/versions), builds a goavro
//     codec for it and a resolution plan onto the reader schema, and caches
//     them. Later records with that id cost no registry round trip, so
//     decoding goes on while the registry is down; only a never-seen id then
//     fails, with a retryable error (errors.Is(err, ErrRegistryUnavailable)).
//   - Schema evolution: goavro decodes with exactly the writer's schema; the
//     plan resolves the result onto the reader's (the latest) schema by
//     field name and aliases, as the Avro specification prescribes: numeric
//     promotion, unions on either side, writer fields the reader lacks
//     skipped, reader fields the writer lacks taking their defaults. So
//     readings written with v1, v2 or any later backward-compatible version
//     decode into the same schemas.Reading.
//   - The hot path: a writer schema that is a flat record (strings,
//     numbers, booleans, timestamp-millis and two-branch nullable unions of
//     them; TurnstileReading v1 and v2 are) whose fields the reader takes
//     as they are gets a direct plan (direct.go) that reads the binary
//     straight into the reading's fields: three allocations instead of
//     goavro's ~50, about 3.5× faster. Anything else (promotions, nested
//     records, collections, enums) decodes with goavro and the plan. The
//     two paths accept the same bytes and give the same values or the same
//     rejection reason, checked against each other on every single-byte
//     mutation of payloads of several writer versions (direct_test.go).
//   - A record that can never decode yields a *RejectError with a [Reason]
//     and the schema id, for the dead-letter topic. Rejections that depend on
//     registry state (unknown id, id under another subject) are cached for
//     Config.UnknownIDTTL.
//
// Concurrency: codecs are safe for concurrent use by any number of
// goroutines (goka calls one codec from every partition's goroutine). The
// caches are guarded by a read-write mutex; cache misses are fetched one at a
// time; the writer id is resolved once. Nothing is global: each codec has
// its own caches, so build one per subject and share it.
package codecs
