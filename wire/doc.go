// Package wire holds every binary layout turnstile writes for itself: the
// windowed stage's table values (a device's state, a partition's
// metadata), the records of its internal topics (re-keyed readings,
// watermark marks, loopback ticks), and the goka codecs that read and
// write them. External topics stay Avro (package codecs).
//
// Every record starts with a tag byte saying what it is, then a layout
// version. Tags in use: 1 device, 2 partition metadata (table values); 10
// reading, 12 mark, 22 tick (records; 21, the tick without the sources'
// lag, is read too). The two-stage pipeline before one windowed stage
// wrote other layouts (device layout 1, metadata 1-3, station values, tag
// 3); [CheckLayout] recognises them so a member can refuse to mix them
// with its own, and nothing decodes them any more.
// Changing a layout from here on means a new version: the changelogs of
// running deployments hold the old one, so it must be read or refused with
// a way out (see CheckLayout). A value that is neither is [ErrCorrupt].
//
// Files: encoding.go (the primitives, device values, outboxes, [Head]),
// records.go (readings, ticks, partition metadata, marks), table.go (the
// table codec), layout.go (what an older version wrote).
//
// # Concurrency
//
// Functions and codecs are stateless and safe for concurrent use.
package wire
