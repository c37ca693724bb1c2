// Package broker runs the embedded Kafka-protocol broker used by the default
// (no Docker, no Apache Kafka) deployment and by the tests.
//
// It wraps github.com/twmb/franz-go/pkg/kfake: one broker node listening on a
// configured address, persistent under a data directory (topics, records,
// committed offsets and groups survive a restart), without topic
// auto-creation unless asked for, and with optional SASL and TLS. Any Kafka
// client (franz-go, sarama/goka, librdkafka, kafkajs) can talk to it.
//
// Concurrency: a *Broker is safe for concurrent use; Close may be called more
// than once.
package broker
