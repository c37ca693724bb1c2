package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ChangelogInfo tells a store opening what its changelog partition looks like
// in Kafka now. KafkaChangelog implements it; tests can fake it.
type ChangelogInfo interface {
	// Describe returns the state of the topic's partition. It returns an
	// error wrapping ErrTopicNotFound when the topic or partition does not
	// exist.
	Describe(ctx context.Context, topic string, partition int32) (ChangelogState, error)
}

// ChangelogState identifies a changelog partition and how far it goes.
type ChangelogState struct {
	// ClusterID is the Kafka cluster's id ("" if the broker has none).
	ClusterID string
	// TopicID is the topic's id, which changes when a topic is deleted and
	// recreated ("" if the broker has none).
	TopicID string
	// EndOffset is the partition's high watermark: the offset the next
	// record will get.
	EndOffset int64
}

// ErrTopicNotFound is wrapped by ChangelogInfo.Describe when the changelog
// topic or partition does not exist.
var ErrTopicNotFound = errors.New("state: changelog topic or partition not found")

// TailSealer is implemented by a ChangelogInfo that can make a changelog
// partition end with a record. goka's recovery reads until it has seen the
// record at end offset − 1; when that offset holds none (the newest records
// were compacted away, or the partition ends with a transaction marker) it
// waits forever. A store seals such a tail before goka recovers it.
type TailSealer interface {
	// SealTail appends a tombstone for SealKey to the partition if its
	// last offset (end − 1) holds no record, and reports whether it did.
	SealTail(ctx context.Context, topic string, partition int32, end int64) (bool, error)
}

// SealKey is the key of the tombstone that seals a changelog tail; it never
// holds a value, so recovering it deletes nothing that exists.
const SealKey = "~state~seal"

// KafkaChangelog is a ChangelogInfo that asks Kafka through franz-go.
type KafkaChangelog struct {
	opts []kgo.Opt
	cl   *kgo.Client
	adm  *kadm.Client
}

var _ TailSealer = (*KafkaChangelog)(nil)

var _ ChangelogInfo = (*KafkaChangelog)(nil)

// NewKafkaChangelog creates a client from opts (at least kgo.SeedBrokers).
// The client connects lazily. Close it when the stores are closed.
func NewKafkaChangelog(opts ...kgo.Opt) (*KafkaChangelog, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), opts...), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return nil, fmt.Errorf("state: kafka client: %w", err)
	}
	return &KafkaChangelog{opts: opts, cl: cl, adm: kadm.NewClient(cl)}, nil
}

// SealTail implements TailSealer: it fetches the partition's last offset
// and, if no record comes back, produces a tombstone for SealKey to it. A
// slow fetch only costs an unneeded tombstone.
func (k *KafkaChangelog) SealTail(ctx context.Context, topic string, partition int32, end int64) (bool, error) {
	if end <= 0 {
		return false, nil
	}
	has, err := k.recordAt(ctx, topic, partition, end-1)
	if err != nil || has {
		return false, err
	}
	rec := &kgo.Record{Topic: topic, Partition: partition, Key: []byte(SealKey)}
	if err := k.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return false, fmt.Errorf("state: seal the tail of %s/%d: %w", topic, partition, err)
	}
	return true, nil
}

// recordAt says whether offset off of the partition holds a record.
func (k *KafkaChangelog) recordAt(ctx context.Context, topic string, partition int32, off int64) (bool, error) {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), k.opts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(off)}}),
		kgo.FetchMaxWait(200*time.Millisecond))...)
	if err != nil {
		return false, fmt.Errorf("state: kafka client: %w", err)
	}
	defer cl.Close()
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for fctx.Err() == nil {
		fs := cl.PollFetches(fctx)
		found := false
		fs.EachRecord(func(r *kgo.Record) { found = found || r.Offset == off })
		if found {
			return true, nil
		}
		if errs := fs.Errors(); len(errs) > 0 && fctx.Err() == nil {
			return false, fmt.Errorf("state: fetch %s/%d@%d: %w", topic, partition, off, errs[0].Err)
		}
	}
	return false, ctx.Err()
}

// Close closes the client.
func (k *KafkaChangelog) Close() { k.cl.Close() }

// Describe implements ChangelogInfo with a metadata request (cluster and
// topic ids) and a ListOffsets request (the high watermark). The metadata
// request bypasses the client's metadata cache (kadm.Metadata would answer
// from it for a few seconds, missing a topic recreated meanwhile).
func (k *KafkaChangelog) Describe(ctx context.Context, topic string, partition int32) (ChangelogState, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, k.cl)
	if err != nil {
		return ChangelogState{}, fmt.Errorf("state: metadata for %s: %w", topic, err)
	}
	var td *kmsg.MetadataResponseTopic
	for i := range resp.Topics {
		if t := resp.Topics[i].Topic; t != nil && *t == topic {
			td = &resp.Topics[i]
		}
	}
	if td == nil {
		return ChangelogState{}, fmt.Errorf("%w: %s", ErrTopicNotFound, topic)
	}
	if err := kerr.ErrorForCode(td.ErrorCode); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return ChangelogState{}, fmt.Errorf("%w: %s", ErrTopicNotFound, topic)
		}
		return ChangelogState{}, fmt.Errorf("state: metadata for %s: %w", topic, err)
	}
	found := false
	for _, p := range td.Partitions {
		found = found || p.Partition == partition
	}
	if !found {
		return ChangelogState{}, fmt.Errorf("%w: %s/%d", ErrTopicNotFound, topic, partition)
	}
	var st ChangelogState
	if resp.ClusterID != nil {
		st.ClusterID = *resp.ClusterID
	}
	if td.TopicID != ([16]byte{}) {
		st.TopicID = kadm.TopicID(td.TopicID).String()
	}
	ends, err := k.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return ChangelogState{}, fmt.Errorf("state: end offsets of %s: %w", topic, err)
	}
	lo, ok := ends.Lookup(topic, partition)
	if !ok {
		return ChangelogState{}, fmt.Errorf("%w: no end offset for %s/%d", ErrTopicNotFound, topic, partition)
	}
	if lo.Err != nil {
		if errors.Is(lo.Err, kerr.UnknownTopicOrPartition) {
			return ChangelogState{}, fmt.Errorf("%w: %s/%d: %v", ErrTopicNotFound, topic, partition, lo.Err)
		}
		return ChangelogState{}, fmt.Errorf("state: end offset of %s/%d: %w", topic, partition, lo.Err)
	}
	st.EndOffset = lo.Offset
	return st, nil
}
