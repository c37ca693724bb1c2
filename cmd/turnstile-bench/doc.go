// Command turnstile-bench runs the benchmark harness (package bench) behind
// `make bench`: a markdown table on stdout, every figure in a JSON file,
// progress on stderr. It only wires flags to bench.Config; re-executed by
// the memory phase (bench.MemberEnv set) it runs one member, bench.RunMember.
//
// Concurrency: main runs one benchmark run; its context ends on SIGINT or
// SIGTERM.
package main
