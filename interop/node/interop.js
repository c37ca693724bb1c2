#!/usr/bin/env node
// kafkajs and @kafkajs/confluent-schema-registry against turnstile's broker
// and schema registry. Install with `npm ci` in this directory first.
//
// Every subcommand prints one JSON document on stdout; diagnostics (and
// kafkajs's own log) go to stderr. The exit status is non-zero when a step
// failed. See ../README.md.
//
//   roundtrip  create a topic (kafkajs admin), register the reading schema
//              and produce readings through the registry client, consume
//              them back in a consumer group and commit
//   consume    consume --count readings from an existing topic in a group
//   evolve     register v1 then v2 of the reading schema under one subject
//              and try an incompatible one (ENTRIES as string): expect 409
//
// --stock leaves kafkajs as npm installs it: no snappy codec (kafkajs
// decodes gzip and uncompressed batches by itself, nothing else).
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const { parseArgs } = require('node:util')
const { Kafka, logLevel, CompressionTypes, CompressionCodecs } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

// kafkajs reads only gzip-compressed and uncompressed batches by itself.
// turnstile writes uncompressed batches unless --compression says
// otherwise; a snappy topic (franz-go's own default, turnstile
// --compression snappy) crashes a stock consumer with "Snappy compression
// not implemented". Unless --stock, the script registers a snappy codec.
function addSnappy () {
  CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy')
}

const schemaDir = path.resolve(__dirname, '..', '..', 'schemas', 'avro')
const schemaPath = (v) => path.join(schemaDir, `turnstile_reading_v${v}.avsc`)

const log = (...args) => console.error('interop.js:', ...args)

// kafkajs logs through console.log by default, which would mix with the
// JSON on stdout.
const logCreator = () => ({ namespace, level, label, log: entry }) => {
  const { message, ...extra } = entry
  process.stderr.write(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(extra)}\n`)
}

// saramaPartition places keys as sarama (and so goka, and turnstile's
// producer) does: FNV-1a 32, taken as a signed int32, modulo the partition
// count, negated when negative. kafkajs ships only murmur2 partitioners.
function saramaPartition (key, n) {
  let h = 0x811c9dc5
  for (const b of key) {
    h ^= b
    h = Math.imul(h, 0x01000193) >>> 0
  }
  const p = (h | 0) % n
  return p < 0 ? -p : p
}

const saramaPartitioner = () => ({ partitionMetadata, message }) =>
  saramaPartition(Buffer.from(message.key), partitionMetadata.length)

function deadline (ms, what) {
  let timer
  const p = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s ${what}`)), ms)
  })
  return { p, clear: () => clearTimeout(timer) }
}

// makeReadings returns count readings of a few devices, four hours apart,
// in the MTA's shape. EVENT_TIME is epoch milliseconds (avsc without
// logical types, as the registry client builds its types).
function makeReadings (count, source) {
  const devices = 4
  const base = Date.UTC(2024, 0, 6)
  const run = crypto.randomBytes(4).toString('hex')
  const pad = (n) => String(n).padStart(2, '0')
  const out = []
  for (let i = 0; i < count; i++) {
    const t = new Date(base + 4 * 3600e3 * Math.floor(i / devices))
    const date = `${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}-${pad(t.getUTCFullYear() % 100)}`
    const time = `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`
    out.push({
      CA: `JS${pad(i % devices)}`,
      UNIT: 'R901',
      SCP: `00-00-${pad(i % devices)}`,
      STATION: 'INTEROP JS',
      LINENAME: 'ACE',
      DIVISION: 'IND',
      DATE: date,
      TIME: time,
      DESC: 'REGULAR',
      ENTRIES: 7000000000 + 100 * i,
      EXITS: 2000000 + 40 * i,
      ID: `js-${run}-${i}`,
      TIMESTAMP: `${t.getUTCFullYear()}-${date.slice(0, 5)} ${time}`,
      EVENT_TIME: t.getTime(),
      SOURCE: source
    })
  }
  return out
}

const deviceKey = (r) => `${r.CA}|${r.UNIT}|${r.SCP}`

function clients (opts) {
  const kafka = new Kafka({
    clientId: 'turnstile-interop',
    brokers: opts.bootstrap.split(','),
    logLevel: logLevel.WARN,
    logCreator,
    retry: { retries: 5 }
  })
  const registry = new SchemaRegistry({ host: opts.registry, clientId: 'turnstile-interop' })
  return { kafka, registry }
}

async function createTopic (kafka, topic, partitions) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    // false when the topic already exists
    return await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true
    })
  } finally {
    await admin.disconnect()
  }
}

// consume reads opts.topic in group opts.group until done(records) and
// commits each record's next offset; it returns the records and the
// committed offsets the group reports afterwards.
async function consume (kafka, registry, opts, done) {
  const consumer = kafka.consumer({ groupId: opts.group })
  const records = []
  const limit = deadline(opts.timeout * 1000, `consuming ${opts.topic} in ${opts.group}`)
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [opts.topic], fromBeginning: true })
    const finished = new Promise((resolve, reject) => {
      // A crash (an undecodable batch, say) restarts the consumer and
      // would only end at the deadline: fail at once instead.
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error))
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          // kafkajs goes on through the fetched batch after resolve():
          // leave the rest unread and uncommitted.
          if (done(records)) return
          try {
            const value = await registry.decode(message.value)
            records.push({
              partition,
              offset: Number(message.offset),
              key: message.key === null ? null : message.key.toString(),
              value
            })
            await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }])
            if (done(records)) resolve()
          } catch (err) {
            reject(err)
          }
        }
      }).catch(reject)
    })
    await Promise.race([finished, limit.p])
  } finally {
    limit.clear()
    await consumer.disconnect()
  }
  const admin = kafka.admin()
  await admin.connect()
  try {
    const [offsets] = await admin.fetchOffsets({ groupId: opts.group, topics: [opts.topic] })
    const committed = {}
    for (const p of offsets.partitions) {
      if (Number(p.offset) >= 0) committed[String(p.partition)] = Number(p.offset)
    }
    return { records, committed }
  } finally {
    await admin.disconnect()
  }
}

async function roundtrip (opts) {
  const { kafka, registry } = clients(opts)
  const created = await createTopic(kafka, opts.topic, opts.partitions)
  const subject = `${opts.topic}-value`
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: fs.readFileSync(opts.schema, 'utf8') },
    { subject }
  )
  log(`registered ${opts.schema} under ${subject}: id ${id}`)
  const readings = makeReadings(opts.count, 'kafkajs')
  const producer = kafka.producer({ createPartitioner: saramaPartitioner })
  await producer.connect()
  let delivered
  try {
    const messages = []
    for (const r of readings) {
      messages.push({ key: deviceKey(r), value: await registry.encode(id, r) })
    }
    const acks = await producer.send({ topic: opts.topic, messages, acks: -1 })
    delivered = acks.map((a) => ({ partition: a.partition, baseOffset: Number(a.baseOffset) }))
  } finally {
    await producer.disconnect()
  }
  const ids = new Set(readings.map((r) => r.ID))
  const { records, committed } = await consume(kafka, registry, opts,
    (recs) => [...ids].every((x) => recs.some((r) => r.value.ID === x)))
  return {
    topic: opts.topic,
    created,
    subject,
    schema_id: id,
    produced: readings,
    delivered,
    consumed: records.filter((r) => ids.has(r.value.ID)),
    foreign: records.filter((r) => !ids.has(r.value.ID)).length,
    group: opts.group,
    committed
  }
}

async function consumeCmd (opts) {
  const { kafka, registry } = clients(opts)
  const { records, committed } = await consume(kafka, registry, opts, (recs) => recs.length >= opts.count)
  return { topic: opts.topic, group: opts.group, consumed: records, committed }
}

// incompatible turns ENTRIES from long into string: a reader of that
// schema cannot read data written with a long, so BACKWARD rejects it.
function incompatible (text) {
  const s = JSON.parse(text)
  for (const f of s.fields) {
    if (f.name === 'ENTRIES') f.type = 'string'
  }
  return JSON.stringify(s)
}

async function evolve (opts) {
  const { registry } = clients(opts)
  const out = { subject: opts.subject, registered: [] }
  for (const file of [opts.v1, opts.v2]) {
    const schema = fs.readFileSync(file, 'utf8')
    // compatibility BACKWARD: the client checks GET /config/{subject}
    // against it and sets it on a new subject.
    const { id } = await registry.register({ type: SchemaType.AVRO, schema }, { subject: opts.subject, compatibility: 'BACKWARD' })
    const version = await registry.api.Subject.registered({ subject: opts.subject, body: { schema } })
    out.registered.push({ file: path.basename(file), id, version: version.data().version })
    log(`registered ${file} under ${opts.subject}: id ${id}`)
  }
  const cfg = await registry.api.Subject.config({ subject: opts.subject })
  out.compatibility = cfg.data().compatibilityLevel
  const bad = incompatible(fs.readFileSync(opts.v2, 'utf8'))
  const check = await registry.api.Subject.compatible({ subject: opts.subject, body: { schema: bad } })
  out.bad_compatible = check.data().is_compatible
  try {
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: bad }, { subject: opts.subject, compatibility: 'BACKWARD' })
    out.bad = { rejected: false, id }
  } catch (err) {
    out.bad = { rejected: true, error: `${err.name}: ${err.message}`, http_code: err.status ?? null, incompatible: err.status === 409 }
    log(`incompatible schema rejected: ${err.name}: ${err.message}`)
  }
  out.latest_version = (await registry.api.Subject.latestVersion({ subject: opts.subject })).data().version
  return out
}

const usage = `usage: node interop.js [--bootstrap HOST:PORT] [--registry URL] [--timeout S] [--stock] COMMAND [flags]
  roundtrip [--topic T] [--group G] [--partitions N] [--count N] [--schema FILE]
  consume   [--topic T] [--group G] [--count N]
  evolve    [--subject S] [--v1 FILE] [--v2 FILE]`

async function main (argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      bootstrap: { type: 'string', default: '127.0.0.1:9092' },
      registry: { type: 'string', default: 'http://127.0.0.1:8081' },
      timeout: { type: 'string', default: '45' },
      topic: { type: 'string' },
      group: { type: 'string' },
      partitions: { type: 'string', default: '3' },
      count: { type: 'string' },
      schema: { type: 'string', default: schemaPath(2) },
      subject: { type: 'string', default: 'interop-evolution-node-value' },
      v1: { type: 'string', default: schemaPath(1) },
      v2: { type: 'string', default: schemaPath(2) },
      stock: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (!values.stock) addSnappy()
  const cmd = positionals[0]
  if (values.help) {
    console.log(usage)
    process.exit(0)
  }
  if (positionals.length !== 1) {
    console.error(usage)
    process.exit(2)
  }
  const opts = {
    ...values,
    timeout: Number(values.timeout),
    partitions: Number(values.partitions)
  }
  let out
  switch (cmd) {
    case 'roundtrip':
      out = await roundtrip({ ...opts, topic: opts.topic ?? 'interop-node', group: opts.group ?? 'interop-node', count: Number(opts.count ?? 8) })
      break
    case 'consume':
      out = await consumeCmd({ ...opts, topic: opts.topic ?? 'mta-turnstile', group: opts.group ?? 'interop-node-consume', count: Number(opts.count ?? 10) })
      break
    case 'evolve':
      out = await evolve(opts)
      break
    default:
      console.error(usage)
      process.exit(2)
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    console.error('interop.js:', err && err.stack ? err.stack : err)
    process.exit(1)
  }
)
