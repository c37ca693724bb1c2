// Package devstack is the whole pipeline on one machine, in one process:
// what `turnstile dev` (and so `make run`) runs. [Start] brings up, in
// this order,
//
//   - the embedded Kafka-protocol broker (package broker), persistent
//     under <DataDir>/kafka, and the Confluent-compatible Schema Registry
//     (package registry) keeping its schemas on it; any Kafka or registry
//     client can use both while the stack runs;
//   - the schemas, registered under the pipeline's topics;
//   - Config.Members pipeline members (package processors), each with its
//     own table state (<State.Dir>/member-<i>) and, when Config.HTTPAddr is
//     set, its own HTTP server (package httpapi) with the live dashboard
//     (package dashboard): the first on HTTPAddr, the others on free ports
//     of the same host; one Prometheus registry for the process, the
//     members told apart by a member label;
//   - the lake-writer (package datalake) writing the sink topics under
//     Config.LakeDir, unless Config.NoLake;
//   - the synthetic producer (package producer) feeding the input topic,
//     unless Config.NoProducer (with Producer.Resume, turnstile dev's
//     default, it continues after the newest reading on the topic);
//   - the live status (package status) on Config.Stdout, or
//     Config.ShowStatus, unless Config.Quiet.
//
// Before any of them, it checks that the members' state directory can be
// written (state.CheckDir), so a bad one fails at once, before a group is
// joined. Then it writes a banner with the addresses, and commands that
// work as printed (Config.Command, the real addresses), to Config.Stdout. The caller
// decides where Stdout and the Logger go (cmd/turnstile routes them to the
// terminal view and the log file of package console); the stack does not
// look at the terminal itself.
//
// # Lifecycle
//
// The context given to Start is the stack's lifetime: Start returns once
// every part runs (or, on an error, after stopping what it had started),
// and [Stack.Wait] returns when that context ends (nil, after writing
// "turnstile dev: shutting down") or when a part fails (its error). Either
// way Wait first stops every part: it cancels them, waits for each member,
// HTTP server, dashboard, the lake-writer's final flush and the producer
// to return, then closes the admin client, the registry and the broker,
// which writes its log to disk, so the next Start on the same DataDir
// resumes where this one stopped. [Run] is Start followed by Wait.
//
// # Concurrency
//
// Each part runs on its own goroutines under the stack's context; the
// stack shares nothing mutable between them but the Prometheus registry
// and the admin client, both safe for concurrent use. A Stack's accessors
// may be called from any goroutine; Wait must be called exactly once, by
// one goroutine, after a successful Start.
package devstack
