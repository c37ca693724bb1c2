package processors

import (
	"context"
	"fmt"
	"hash"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// producerCloseTimeout bounds how long closing a processor's producer
// waits for its records to be acknowledged (goka's own producer waits as
// long for sarama's).
const producerCloseTimeout = 60 * time.Second

// deliveryTimeout is how long a record may wait for its acknowledgement,
// retries included, before its promise fails (and goka fails the
// processor, which the member restarts): Kafka's producer default
// (delivery.timeout.ms), as Kafka Streams runs it. A broker outage
// shorter than this stalls the partitions instead of failing them.
const deliveryTimeout = 2 * time.Minute

// kgoProducer is goka's Producer on a franz-go client: the changelog
// writes, emits and loopbacks of a processor go through it instead of
// sarama's async producer. It keeps what the pipeline asks of sarama's
// (acknowledged by all in-sync replicas, idempotent, so a partition's
// records are never reordered or duplicated by a retry; keys placed by
// goka's hasher, as sarama's hash partitioner places them), for about a
// quarter less CPU per reading in the pipeline (docs/benchmarks.md).
//
// A promise is finished on franz-go's promise goroutine, in produce order
// per partition, with a *sarama.ProducerMessage carrying the record's
// topic, partition, offset and timestamp (not its key and value): goka
// reads the offset to acknowledge a table write (Store.SetOffset). Safe
// for concurrent use, as goka's partition processors share one producer.
type kgoProducer struct {
	cl *kgo.Client
}

// kgoProducerBuilder builds goka producers from opts (seed brokers,
// TLS, SASL, the user's settings; they come last and win).
func kgoProducerBuilder(opts []kgo.Opt) goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		all := append([]kgo.Opt{
			kgo.SeedBrokers(brokers...),
			kgo.ClientID(clientID),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(func(b []byte) uint32 {
				h := hasher()
				_, _ = h.Write(b)
				return h.Sum32()
			}))),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			// As sarama was configured: flushed every 5 ms, uncompressed
			// unless the user's options (clientconf's compression.type)
			// say otherwise.
			kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerLinger(5 * time.Millisecond),
			kgo.RecordDeliveryTimeout(deliveryTimeout),
		}, opts...)
		cl, err := kgo.NewClient(all...)
		if err != nil {
			return nil, fmt.Errorf("processors: goka producer: %w", err)
		}
		return &kgoProducer{cl: cl}, nil
	}
}

// Emit produces value under key to topic.
func (p *kgoProducer) Emit(topic string, key string, value []byte) *goka.Promise {
	return p.EmitWithHeaders(topic, key, value, nil)
}

// EmitWithHeaders produces value under key to topic with headers. A nil
// value is a tombstone.
func (p *kgoProducer) EmitWithHeaders(topic string, key string, value []byte, headers goka.Headers) *goka.Promise {
	promise, finish := goka.NewPromiseWithFinisher()
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: value}
	if len(headers) > 0 {
		rec.Headers = make([]kgo.RecordHeader, 0, len(headers))
		for k, v := range headers {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: k, Value: v})
		}
	}
	p.cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
		// Key and Value stay unset: goka reads the offset only, and
		// wrapping both in sarama's encoders is two allocations a record.
		msg := &sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
		if err != nil {
			err = fmt.Errorf("processors: producing to %s: %w", topic, err)
		}
		finish(msg, err)
	})
	return promise
}

// Close waits for the records produced so far to be acknowledged (up to
// producerCloseTimeout), then closes the client; a record still not
// acknowledged then has its promise failed.
func (p *kgoProducer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), producerCloseTimeout)
	defer cancel()
	err := p.cl.Flush(ctx)
	p.cl.Close()
	if err != nil {
		return fmt.Errorf("processors: closing goka producer: %w", err)
	}
	return nil
}
