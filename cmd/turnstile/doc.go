// Command turnstile is the one binary of the turnstile stream processor: the
// embedded broker and schema registry, the producer, the processors, the
// lake-writer and the operational tools are its subcommands.
//
// This package only wires flags to the packages that do the work.
//
// Concurrency: main runs one command; its context ends on SIGINT or
// SIGTERM, and the packages it calls stop their goroutines with it.
package main
