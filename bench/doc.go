// Package bench is the turnstile benchmark harness behind `make bench`: in
// one run, on the embedded broker and schema registry (in process), it
// preloads a synthetic MTA-shaped stream and measures the whole pipeline
// (processors.Pipeline) against two alternatives fed the same input — "the
// limit" (a plain franz-go consumer computing the same windows in memory)
// and "the usual goka way" (one goka processor, goka's default LevelDB
// storage, JSON values, windows closed by the next reading) — checking
// that all three produce identical window totals. It then measures close
// latency in live mode, table restore from the changelog, warm and cold
// restarts, scaling over in-process members, and micro-benchmarks of the
// codecs and storages. Absolute figures depend on the (shared, noisy)
// machine; the comparisons are ratios measured in the same run.
//
// Benchmarks are not tests: nothing here asserts on speed. Run fails only
// when the variants disagree, when ours publishes a window of the
// preloaded, ordered input more than once (a correction, REVISION > 1, on
// the device or station windows topic), or when a phase cannot complete.
//
// Concurrency: Run is not safe for concurrent use (it measures the whole
// process: CPU time, RSS, pprof); run one at a time.
package bench
