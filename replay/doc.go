// Package replay is the application-reset tool behind turnstile replay: it
// makes the pipeline process its input again from the earliest retained
// offset or from a point in time, for example to include readings that
// arrived too late the first time.
//
// A replay, with every member of the groups stopped:
//
//   - refuses while any group to reset has members (ActiveError says who);
//   - deletes and recreates the replayed stages' table (changelog) topics, so
//     their state starts empty; members notice the recreated topics when they
//     start and rebuild their local Pebble state from them;
//   - commits new offsets: the first replayed stage restarts at From on its
//     input; a stage whose upstream stage is replayed too skips to the end
//     of its input (the upstream republishes everything); loopback topics
//     skip to the end; relays start at the beginning of the new tables;
//   - records a new processors.Generation, optionally with its own retention
//     and grace. Members read it when they start and stamp every window they
//     publish with its number; downstream, the highest generation and then
//     the highest revision of a window wins (the lake-writer's compaction
//     does the same).
//
// It uses only the Kafka admin API, so it works against any Kafka cluster
// as it does against the embedded broker. Prepare changes nothing (it backs
// --dry-run); Execute checks again that no member is active, then acts.
//
// Concurrency: a Plan is used by one goroutine. Two replays of the same
// pipeline must not run at once.
package replay
