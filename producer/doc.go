// Package producer is the library behind `turnstile produce`: it sends
// turnstile readings (TurnstileReading, Confluent wire format, see package
// codecs) to Kafka with franz-go, keyed by reading key
// STATION|LINENAME|CA|UNIT|SCP and placed with the pipeline's partitioner
// ([schemas.Partitioner]), so the windowed stage applies each where it
// lands, without a re-key.
//
// Two sources:
//
//   - synthetic (default): a live stream in the shape of the MTA's. Devices
//     come from the embedded station reference (768 booths, a few SCPs
//     each); each device reports once per Interval (4 h), booths staggered
//     across the interval, with cumulative registers (or, in increment
//     mode, the original demo's 5..10 per message). Their counts are real
//     ridership: Poisson draws around the device's share of its booth's
//     rate in the reading's New York local hour, weekday or weekend,
//     entries and exits apart, calibrated from two real MTA weeks
//     (ridership.csv, ridership_shape.csv: see [LoadRidership]; a booth
//     without data takes its station's other booths' mean, or the median
//     booth). Speed runs event time faster than the wall clock so windows
//     close quickly in a demo, but never past the wall clock: a stream
//     that has caught up with the present continues in real time.
//     With Resume it continues after what its topic holds (a restarted
//     demo is not behind its own stored state).
//   - csv: replays an MTA weekly file (plain or gzip) in event-time order,
//     in file order, or in "arrival" order where RECOVR AUD rows come late.
//     DATE and TIME are local time in CSVConfig.TimeZone (New York's by
//     default); each row's event time is the instant they stand for, read
//     in file order with the daylight-saving rules of localtime.go.
//
// On top of either, LateFraction, DuplicateFraction and BadFraction inject
// late readings, resent duplicates and malformed records, each tagged with
// the InjectedHeader header. Everything is deterministic under Config.Seed
// given a fixed synthetic start time: the same Config yields the same
// records byte for byte ([NewStream] exposes them without Kafka).
//
// [Run] paces the stream (Speed, Rate), produces asynchronously, draws a
// progress bar on a terminal (rate, and ETA for finite sources) and returns
// a [Summary].
//
// Concurrency: Run may be called from several goroutines with different
// Configs; it shares nothing between calls except a caller-supplied Kafka
// client or codec, both safe for concurrent use. A Stream is meant for one
// goroutine.
package producer
