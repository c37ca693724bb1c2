// Package interop holds interoperability tests: third-party Kafka and
// Schema Registry clients run as child processes against the embedded broker
// (package broker) and schema registry (package registry), and their records
// are cross-checked with this project's codecs and producer.
//
// The client is librdkafka through Python's confluent_kafka with the legacy
// Confluent Avro serializer (python/interop.py, Debian's /usr/bin/python3
// with python3-confluent-kafka, python3-avro and python3-requests). A test
// whose runtime is missing skips, unless TURNSTILE_INTEROP_REQUIRE is set,
// when it fails instead.
//
// The package has no non-test code.
package interop
