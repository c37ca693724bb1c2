// Package reference computes device and station windows directly from a set of
// accepted readings, by the window definition of docs/semantics.md, with no
// streaming machinery: sort each device's readings by event time, take counter
// differences, sum them per window. Tests compare the pipeline's output with
// it. It deliberately shares no code with processors (nor with windows:
// local-midnight alignment is computed on its own, local.go).
//
// It is for tests only: nothing but _test files imports it (the layering test,
// internal/layering, fails otherwise); the benchmark harness's tests
// (bench/bench_test.go) compare with it, package bench itself does not.
//
// Concurrency: pure functions.
package reference
