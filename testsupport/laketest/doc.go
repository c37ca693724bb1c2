// Package laketest reads a compacted data lake back for tests: one window
// per sink key, as the sink topics key them, so tests compare the lake with
// testsupport/reference the way they compare the sink topics.
//
// It is for tests only: nothing but _test files imports it (the layering
// test, internal/layering, fails otherwise).
//
// Concurrency: functions only; each reads the files once.
package laketest
