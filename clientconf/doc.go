// Package clientconf holds the settings every turnstile client needs to
// reach Kafka and the Schema Registry, and turns them into options for the
// client libraries we use: franz-go (kgo) and sarama (goka's client).
//
// Settings come from command-line flags and, optionally, a Kafka-style
// properties file (the format of the original Python pipeline's
// client.properties: bootstrap.servers, security.protocol, sasl.mechanism,
// sasl.username, sasl.password, ssl.ca.location, schema.registry.url,
// basic.auth.user.info, compression.type). A value set explicitly on the
// command line wins over the file; the file wins over defaults.
//
// Compression is the codec of every batch a client built from a Config
// produces, franz-go (KgoOpts) and sarama (ApplySarama) alike; it defaults
// to DefaultCompression rather than franz-go's snappy, which stock kafkajs
// cannot read.
//
// Secrets never appear in String output or in errors.
//
// Concurrency: Config is a plain value; its methods do not mutate it and are
// safe for concurrent use.
package clientconf
