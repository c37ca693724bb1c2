// Package status reports on a turnstile deployment from Kafka alone: each
// consumer group's lag on the topics it consumes, topic offsets, and the
// records on the dead-letter, too-late and sink topics (Collect, Report).
// Wait polls until every group has caught up, with a progress bar and ETA
// (turnstile status --wait, used after a replay). Collector exports the
// same numbers to Prometheus at scrape time. Live prints the running
// process's own rates and counts with the Kafka lag every few seconds
// (turnstile dev and turnstile process).
//
// Lag is end offset minus committed offset per partition (minus the log
// start offset when nothing is committed). Committed offsets are read
// before end offsets, so a group reported caught up has consumed at least
// everything its upstream had written when it committed. Groups that never
// ran (no members, no commits) are reported as absent and do not block
// Wait. Goka groups' loopback topics are left out: ticks keep them busy.
//
// # Concurrency
//
// Collect and Wait are safe to call concurrently; a Live is run once.
package status
