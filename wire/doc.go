// Package wire holds every binary layout turnstile writes for itself: the
// table values (a device's windows, a station's windows, a partition's
// metadata), the records of the internal topics (readings, watermark
// marks, device rows on station-updates, loopback closes and ticks), and
// the goka codecs that read and write them. External topics stay Avro
// (package codecs).
//
// Every record starts with a tag byte saying what it is, then a layout
// version. Tags in use: 1 device, 2 partition metadata, 3 station (table
// values); 10 reading, 11 device row, 12 mark, 13 device rows, 20 close,
// 21 tick (records). Changing a layout means a new version that is
// written from then on, while the old one is still read: the changelogs
// of running deployments hold it. A value that is neither is
// [ErrCorrupt].
//
// Files: encoding.go (the primitives, device values, outboxes, [Head]),
// station.go (device rows, station values), records.go (readings,
// loopback messages, partition metadata, marks), table.go (the table
// codec).
//
// # Concurrency
//
// Functions and codecs are stateless and safe for concurrent use.
package wire
