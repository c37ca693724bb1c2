// Package interop holds interoperability tests: third-party Kafka and
// Schema Registry clients run as child processes against the embedded broker
// (package broker) and schema registry (package registry), and their records
// are cross-checked with this project's codecs and producer.
//
// The clients are librdkafka through Python's confluent_kafka with the
// legacy Confluent Avro serializer (python/interop.py, Debian's
// /usr/bin/python3 with python3-confluent-kafka, python3-avro and
// python3-requests), and kafkajs with @kafkajs/confluent-schema-registry
// (node/interop.js, versions pinned by node/package-lock.json and installed
// by the tests with npm ci). A test whose runtime is missing skips, unless
// TURNSTILE_INTEROP_REQUIRE is set (CI sets it), when it fails instead.
//
// The package has no non-test code; README.md says how to run the same
// scripts by hand against `turnstile dev`.
//
// Concurrency: each test starts its own broker and registry; the two
// clients of TestThirdPartyClients run in parallel against the same
// stack, on topics and subjects of their own.
package interop
