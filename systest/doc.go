// Package systest holds the whole-system tests: the pipeline of package
// processors run as it is deployed, against the embedded Kafka-protocol
// broker and Schema Registry, with the results compared with
// testsupport/reference. They run pipeline members in this process and in
// child processes (this test binary re-executed), SIGKILL and SIGTERM
// them, stop the broker and the registry mid-stream, scale members out and
// in, hand partitions over to hot standbys, replay the real MTA weeks and
// a generation, and feed every kind of bad input.
//
// The package has no code of its own besides this comment; everything is
// in its _test.go files, one per kind of test, named after it. Shared:
//   - env_test.go, the environment: the embedded broker and registry
//     stack, the configuration of a member, members in this process and
//     in child processes (TestHelperProcess), the log capture, and every
//     TURNSTILE_* switch the tests read, each declared once;
//   - helpers_test.go: readings in, the sink topics read and compared with
//     the reference, the accounting of every input record;
//   - groups_test.go: the consumer groups (ownership, settling, lag).
//
// Run them with
//
//	make test                                  # every package, these included
//	make systest                               # these alone, several minutes:
//	go test -count=1 -timeout 30m ./systest/   # the same
//	go test -short ./systest/                  # without the member processes and the MTA weeks
//	make chaos                                 # TURNSTILE_CHAOS=1: TestChaos and the longer kill runs
//
// The real MTA weeks are read from ../shared/data/mta beside the
// checkout; the tests that need them skip without it.
//
// Concurrency: the tests run one at a time (none calls t.Parallel), each
// with its own stack and child processes, stopped when it ends.
package systest
