// Package windows is the window semantics of turnstile, with no goka and
// no Kafka: what a reading contributes to its device's event-time windows,
// when a window closes, when a reading is too late, when a late reading
// corrects a published window with a new revision, and how a station
// window rolls up its devices' windows. The goka runtime (package
// processors) stores a [Device] per device in its table and calls these;
// package wire writes them to bytes.
//
// # Where things happen
//
//   - Windows and their alignment (tumbling or sliding; aligned to the
//     Unix epoch, or to local midnight in a time zone through daylight
//     saving time): [Spec] in spec.go.
//   - The rules every device shares (grace, retention, counter and emit
//     modes) and every time rule: when windows close ([Rules.CloseStep],
//     [Rules.CloseTime], [Device.NextClose]), the too-late cut
//     ([Rules.TooLate]), where an idle partition's watermark goes
//     ([Rules.IdleTarget]), and the one rule that decides whether a change
//     publishes a revision (on time, correction, or nothing): rules.go.
//   - Revision bookkeeping: [Revisions] in revisions.go.
//   - A device: readings applied in event-time order, counter differences,
//     duplicates, corrections, closes, and what retention prunes (its
//     readings and the revisions it keeps of its own and its station's
//     windows): [Device.Apply], [Device.Close], [Device.CatchUp] in
//     device.go.
//   - The station rollup: a station window is the sum of its devices'
//     windows, DEVICES counts them. Its first revision comes from the
//     close of its devices' windows ([RollUp]); a later one from the
//     device whose change causes it, computed with its station's other
//     devices ([Peers], [StationWindow]): station.go.
//
// Everything is deterministic: the same inputs in the same order give the
// same states and the same published rows, whatever the wall clock (the
// decision's wall-clock time travels in a [Stamp] and is only recorded).
// That is what makes a republication after a crash byte-identical.
//
// # Concurrency
//
// None of the types are safe for concurrent use; the runtime touches a
// device's state only from the goroutine of its partition.
package windows
