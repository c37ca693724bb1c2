// Package membertest starts one pipeline member in the test's process the
// way turnstile process runs it: processors with their metrics, the HTTP
// server on an ephemeral loopback port advertised to the pipeline, and,
// when asked, the status collector and the live dashboard. It is for the
// tests of packages that serve a member (httpapi, status, dashboard); the
// whole-system tests of package systest have their own environment.
//
// It is for tests only: nothing but _test files imports it (the layering
// test, internal/layering, fails otherwise).
//
// Concurrency: Start may be called from several goroutines; each member
// stops, and its errors are reported, when the test ends.
package membertest
