// Package provision creates and inspects the Kafka topics a turnstile
// deployment needs, as processors.Config.TopicSpecs lists them (partition
// counts, compacted changelogs, the one-partition generations topic).
//
// Create goes through processors.EnsureTopics, the same path every
// pipeline member takes when it starts, so a topic created ahead of time by
// an operator (turnstile topics create), by the producer (turnstile
// produce, for the input topic) or by a member is the same topic. A topic
// that is missing and cannot be created (no CREATE permission, a cluster
// policy, an unreachable controller) is reported as a *CreateError naming
// it, so callers can say what to run instead of failing later on every
// record. List reports each topic as the cluster has it next to what the
// pipeline wants.
//
// # Concurrency
//
// The package keeps no state: every function may be called from several
// goroutines at once, with the same or different admin clients. Each
// blocks until the cluster answers or ctx ends; bound them with a deadline.
package provision
