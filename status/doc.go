// Package status reports on a turnstile deployment from Kafka: each
// consumer group's lag on the topics it consumes, topic offsets, and the
// records on the dead-letter, too-late and sink topics (Collect, Report).
// Wait polls until every group has caught up, with a progress bar and ETA
// (turnstile status --wait, used after a replay). Collector exports the
// same numbers to Prometheus at scrape time. Live prints the running
// process's own rates and counts with the Kafka lag every few seconds
// (turnstile dev and turnstile process), or hands each block to Show (on a
// terminal, package console redraws it in place).
//
// Warnings is the one pure rule for what a running member's user should be
// warned of now (most readings too late: a producer behind the stored
// state); Live prints its lines in the status block and the dashboard's
// GET /api/health lists them.
//
// CollectWatermarks adds what Kafka cannot say: the event-time watermarks.
// It finds the member owning each windowed and input partition from the
// consumer groups (members advertise their HTTP address in their group
// metadata) and scrapes every owner's /metrics once, with a short timeout;
// a partition whose owner is not reachable is reported unknown, the rest
// of the report stands.
//
// Lag is package internal/grouplag's, the one definition the processors'
// ticker uses too: kadm's end offset minus committed offset per partition,
// every record a partition holds (end minus log start) when nothing is
// committed or the commit is below the log start, and unknown (counted in
// Group.Unknown, never caught up) when a partition's offsets cannot be
// listed. Committed offsets are read before end offsets, so a group
// reported caught up has consumed at least everything its upstream had
// written when it committed. Groups that never
// ran (no members, no commits) are reported as absent and do not block
// Wait. Goka groups' loopback topics are left out: ticks keep them busy.
//
// # Concurrency
//
// Collect, CollectWatermarks and Wait are safe to call concurrently; a
// Live is run once, and calls Show from Run's goroutine only.
package status
