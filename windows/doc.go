// Package windows is the window semantics of turnstile, with no goka and
// no Kafka: what a reading contributes to its device's event-time windows,
// when a window closes, when a late reading corrects a published window
// with a new revision, and how a station window rolls up its devices'
// windows. The goka runtime (package processors) stores these states in
// its tables and calls them; package wire writes them to bytes.
//
// # Where things happen
//
//   - Windows and their alignment (tumbling or sliding; aligned to the
//     Unix epoch, or to local midnight in a time zone through daylight
//     saving time): [Spec] in spec.go.
//   - The rules every key shares (grace, retention, counter and emit
//     modes), when windows close ([Rules.CloseStep], [Rules.IdleTarget]),
//     and the one rule that decides whether a change publishes a revision
//     (on time, correction, or nothing): rules.go.
//   - Revision bookkeeping, for devices and stations alike: [Revisions]
//     in revisions.go.
//   - A device: readings applied in event-time order, counter differences,
//     duplicates, corrections and closes: [Device.Apply] and
//     [Device.Close] in device.go.
//   - The station rollup: a station window is the sum of its devices'
//     latest rows, DEVICES counts them, a newer device revision replaces
//     the old one: [Station.Apply] and [Station.Close] in station.go.
//
// Everything is deterministic: the same inputs in the same order give the
// same states and the same published rows, whatever the wall clock (the
// decision's wall-clock time travels in a [Stamp] and is only recorded).
// That is what makes a republication after a crash byte-identical.
//
// # Concurrency
//
// None of the types are safe for concurrent use; the runtime touches a
// key's state only from the goroutine of the key's partition.
package windows
