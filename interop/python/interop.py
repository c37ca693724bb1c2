#!/usr/bin/python3
"""librdkafka (confluent_kafka) and the Confluent Avro serializer against
turnstile's broker and schema registry.

Run with Debian's interpreter (/usr/bin/python3) and packages
python3-confluent-kafka, python3-avro and python3-requests. Global flags
come before the command. Every subcommand prints one JSON
document on stdout; diagnostics go to stderr. The exit status is non-zero
when a step failed. See ../README.md.

  roundtrip  create a topic (AdminClient), register the reading schema and
             produce readings (AvroProducer's serializer), consume them back
             in a consumer group (AvroConsumer) and commit
  consume    consume --count readings from an existing topic in a group
  evolve     register v1 then v2 of the reading schema under one subject
             and try an incompatible one (ENTRIES as string): expect 409
  produce    produce the records of a JSON-lines file in its order: readings
             through AvroProducer's serializer, raw values (base64) and
             tombstones as they are; keys as given, placed by librdkafka's
             default partitioner (as the original demo's producers did)
"""

import base64

import argparse
import datetime
import json
import os
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
import confluent_kafka.avro
from confluent_kafka.avro import AvroConsumer, AvroProducer, CachedSchemaRegistryClient
from confluent_kafka.avro.error import ClientError
from confluent_kafka.avro.serializer import SerializerError

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "schemas", "avro"))
DEVICES = 4  # readings go round this many devices
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def log(*args):
    print("interop.py:", *args, file=sys.stderr, flush=True)


def schema_path(version):
    return os.path.join(SCHEMA_DIR, "turnstile_reading_v%d.avsc" % version)


class KeyedAvroProducer(AvroProducer):
    """AvroProducer with a raw (not Avro) key.

    The legacy AvroProducer refuses a key without a key schema, and an Avro
    key would be framed bytes; turnstile keys readings by the plain string
    CA|UNIT|SCP. The value still goes through AvroProducer's own
    serializer (register under <topic>-value, Confluent framing).
    """

    def produce_reading(self, topic, key, value, on_delivery):
        payload = self._serializer.encode_record_with_schema(topic, self._value_schema, value)
        Producer.produce(self, topic, payload, key, on_delivery=on_delivery)


class ValueAvroConsumer(AvroConsumer):
    """AvroConsumer that leaves the key alone.

    The legacy AvroConsumer decodes every non-null key as Confluent-framed
    Avro and raises SerializerError ("message does not start with magic
    byte") on turnstile's plain-string keys. This decodes only the value,
    with AvroConsumer's own serializer.
    """

    def poll(self, timeout=None):
        msg = Consumer.poll(self, -1 if timeout is None else timeout)
        if msg is None or msg.error() or msg.value() is None:
            return msg
        try:
            msg.set_value(self._serializer.decode_message(msg.value(), is_key=False))
        except SerializerError as e:
            raise SerializerError("Message deserialization failed for message at %s [%d] offset %d: %s"
                                  % (msg.topic(), msg.partition(), msg.offset(), e))
        return msg


def to_json(reading):
    """A decoded reading as JSON: EVENT_TIME as epoch milliseconds."""
    out = dict(reading)
    et = out.get("EVENT_TIME")
    if isinstance(et, datetime.datetime):
        out["EVENT_TIME"] = (et - EPOCH) // datetime.timedelta(milliseconds=1)
    return out


def make_readings(count, source):
    """count readings of a few devices, four hours apart, in the MTA's shape."""
    base = datetime.datetime(2024, 1, 6, tzinfo=datetime.timezone.utc)
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(count):
        t = base + datetime.timedelta(hours=4 * (i // DEVICES))
        out.append({
            "CA": "PY%02d" % (i % DEVICES), "UNIT": "R900", "SCP": "00-00-%02d" % (i % DEVICES),
            "STATION": "INTEROP PY", "LINENAME": "NQR456W", "DIVISION": "BMT",
            "DATE": t.strftime("%m-%d-%y"), "TIME": t.strftime("%H:%M:%S"), "DESC": "REGULAR",
            "ENTRIES": 7_000_000_000 + 100 * i, "EXITS": 2_000_000 + 40 * i,
            "ID": "py-%s-%d" % (run, i), "TIMESTAMP": t.strftime("%Y-%m-%d %H:%M:%S"),
            "EVENT_TIME": t, "SOURCE": source,
        })
    return out


def create_topic(bootstrap, topic, partitions, timeout):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                              request_timeout=timeout)[topic]
    try:
        fut.result(timeout=timeout)
        return True
    except KafkaException as e:
        if e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            log("topic %s exists" % topic)
            return False
        raise


def consume(args, want, stop):
    """Consume in group args.group until stop(records) or the deadline;
    commit synchronously; return (records, committed)."""
    consumer = ValueAvroConsumer({
        "bootstrap.servers": args.bootstrap,
        "schema.registry.url": args.registry,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    records = []
    deadline = time.monotonic() + args.timeout
    try:
        consumer.subscribe([args.topic])
        while not stop(records):
            if time.monotonic() > deadline:
                raise SystemExit("interop.py: timed out after %ss with %d of %s records" % (args.timeout, len(records), want))
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(msg.error())
            key = msg.key()
            records.append({
                "partition": msg.partition(), "offset": msg.offset(),
                "key": key.decode() if isinstance(key, bytes) else key,
                "value": to_json(msg.value()),
            })
        if records:
            consumer.commit(asynchronous=False)
        # What the group has committed now, on every partition of the topic.
        parts = consumer.list_topics(args.topic, timeout=10).topics[args.topic].partitions
        committed = {}
        for tp in consumer.committed([TopicPartition(args.topic, p) for p in sorted(parts)], timeout=10):
            if tp.error:
                raise KafkaException(tp.error)
            if tp.offset >= 0:
                committed[str(tp.partition)] = tp.offset
        return records, committed
    finally:
        consumer.close()


def cmd_roundtrip(args):
    schema = confluent_kafka.avro.load(args.schema)
    created = create_topic(args.bootstrap, args.topic, args.partitions, args.timeout)
    producer = KeyedAvroProducer({
        "bootstrap.servers": args.bootstrap,
        "schema.registry.url": args.registry,
        # sarama's (and so goka's) placement of keys; see ../README.md.
        "partitioner": "fnv1a",
    }, default_value_schema=schema)
    readings = make_readings(args.count, "python-confluent-kafka")
    delivered, errors = [], []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append({"partition": msg.partition(), "offset": msg.offset(), "key": msg.key().decode()})

    for r in readings:
        key = "%s|%s|%s" % (r["CA"], r["UNIT"], r["SCP"])
        producer.produce_reading(args.topic, key.encode(), r, on_delivery)
    left = producer.flush(args.timeout)
    if left or errors:
        raise SystemExit("interop.py: %d records undelivered, errors: %s" % (left, errors))
    subject = args.topic + "-value"
    # The id the serializer registered (cached by the client, no request).
    schema_id = producer._serializer.registry_client.register(subject, schema)
    log("produced %d readings to %s with schema id %d" % (len(readings), args.topic, schema_id))

    ids = {r["ID"] for r in readings}
    records, committed = consume(args, len(ids),
                                 lambda recs: ids <= {r["value"]["ID"] for r in recs})
    json.dump({
        "topic": args.topic, "created": created, "subject": subject, "schema_id": schema_id,
        "produced": [to_json(r) for r in readings], "delivered": delivered,
        "consumed": [r for r in records if r["value"]["ID"] in ids],
        "foreign": sum(1 for r in records if r["value"]["ID"] not in ids),
        "group": args.group, "committed": committed,
    }, sys.stdout)
    print()


def cmd_consume(args):
    records, committed = consume(args, args.count, lambda recs: len(recs) >= args.count)
    json.dump({"topic": args.topic, "group": args.group, "consumed": records, "committed": committed}, sys.stdout)
    print()


def incompatible(text):
    """The schema with ENTRIES turned from long into string: a reader of it
    cannot read data written with a long, so BACKWARD must reject it."""
    s = json.loads(text)
    for f in s["fields"]:
        if f["name"] == "ENTRIES":
            f["type"] = "string"
    return json.dumps(s)


def cmd_evolve(args):
    client = CachedSchemaRegistryClient({"url": args.registry})
    out = {"subject": args.subject, "registered": []}
    out["compatibility_set"] = client.update_compatibility("BACKWARD", args.subject)
    out["compatibility"] = client.get_compatibility(args.subject)
    for path in (args.v1, args.v2):
        schema = confluent_kafka.avro.load(path)
        sid = client.register(args.subject, schema)
        version = client.get_version(args.subject, schema)
        out["registered"].append({"file": os.path.basename(path), "id": sid, "version": version})
        log("registered %s under %s: id %d version %s" % (path, args.subject, sid, version))
    with open(args.v2) as f:
        bad = confluent_kafka.avro.loads(incompatible(f.read()))
    out["bad_compatible"] = client.test_compatibility(args.subject, bad)
    try:
        sid = client.register(args.subject, bad)
        out["bad"] = {"rejected": False, "id": sid}
    except ClientError as e:
        # The legacy client leaves http_code unset and puts the status in
        # the message: "Incompatible Avro schema:409 message:{...}".
        out["bad"] = {"rejected": True, "error": str(e), "http_code": e.http_code,
                      "incompatible": str(e).startswith("Incompatible Avro schema:409")}
        log("incompatible schema rejected: %s" % e)
    latest = client.get_latest_schema(args.subject)
    out["latest_version"] = latest[2]
    json.dump(out, sys.stdout)
    print()


def cmd_produce(args):
    schema = confluent_kafka.avro.load(args.schema)
    producer = KeyedAvroProducer({"bootstrap.servers": args.bootstrap, "schema.registry.url": args.registry},
                                 default_value_schema=schema)
    counts = {"readings": 0, "raw": 0, "tombstones": 0}
    errors = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))

    with open(args.file) as f:
        for line in f:
            rec = json.loads(line)
            key = rec["key"].encode()
            if "reading" in rec:
                r = dict(rec["reading"])
                if r.get("EVENT_TIME") is not None:
                    r["EVENT_TIME"] = EPOCH + datetime.timedelta(milliseconds=r["EVENT_TIME"])
                producer.produce_reading(args.topic, key, r, on_delivery)
                counts["readings"] += 1
            elif "raw" in rec:
                Producer.produce(producer, args.topic, base64.b64decode(rec["raw"]), key, on_delivery=on_delivery)
                counts["raw"] += 1
            else:
                Producer.produce(producer, args.topic, None, key, on_delivery=on_delivery)
                counts["tombstones"] += 1
            producer.poll(0)
    left = producer.flush(args.timeout)
    if left or errors:
        raise SystemExit("interop.py: %d records undelivered, errors: %s" % (left, errors))
    log("produced %s to %s" % (counts, args.topic))
    json.dump(dict(counts, topic=args.topic), sys.stdout)
    print()


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers")
    p.add_argument("--registry", default="http://127.0.0.1:8081", help="schema registry URL")
    p.add_argument("--timeout", type=float, default=45, help="seconds to wait for Kafka")
    sub = p.add_subparsers(dest="cmd", required=True)

    rt = sub.add_parser("roundtrip", help="create, register, produce, consume")
    rt.add_argument("--topic", default="interop-python")
    rt.add_argument("--group", default="interop-python")
    rt.add_argument("--partitions", type=int, default=3)
    rt.add_argument("--count", type=int, default=8)
    rt.add_argument("--schema", default=schema_path(2), help="writer schema (.avsc)")
    rt.set_defaults(func=cmd_roundtrip)

    c = sub.add_parser("consume", help="consume --count readings in a group")
    c.add_argument("--topic", default="mta-turnstile")
    c.add_argument("--group", default="interop-python-consume")
    c.add_argument("--count", type=int, default=10)
    c.set_defaults(func=cmd_consume)

    ev = sub.add_parser("evolve", help="v1, v2, then an incompatible schema under one subject")
    ev.add_argument("--subject", default="interop-evolution-python-value")
    ev.add_argument("--v1", default=schema_path(1))
    ev.add_argument("--v2", default=schema_path(2))
    ev.set_defaults(func=cmd_evolve)

    pr = sub.add_parser("produce", help="produce the records of a JSON-lines file")
    pr.add_argument("--topic", default="mta-turnstile")
    pr.add_argument("--file", required=True, help='lines of {"key": K, "reading": {...}} | {"key": K, "raw": B64} | {"key": K}')
    pr.add_argument("--schema", default=schema_path(2), help="writer schema (.avsc)")
    pr.set_defaults(func=cmd_produce)

    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
