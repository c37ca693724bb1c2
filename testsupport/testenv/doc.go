// Package testenv starts the embedded services (broker, and schema registry
// once a test asks for it) for tests, on ephemeral loopback ports, torn down
// with the test.
//
// It is for tests only: nothing but _test files and the other testsupport
// packages import it (the layering test, internal/layering, fails
// otherwise).
//
// Concurrency: Env values are safe for concurrent use by the test's
// goroutines; each test gets its own services.
package testenv
