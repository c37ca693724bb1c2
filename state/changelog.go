package state

import (
	"context"
	"errors"
	"fmt"

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

// KafkaChangelog is a ChangelogInfo that asks Kafka through franz-go.
type KafkaChangelog struct {
	cl  *kgo.Client
	adm *kadm.Client
}

var _ ChangelogInfo = (*KafkaChangelog)(nil)

// NewKafkaChangelog creates a client from opts (at least kgo.SeedBrokers).
// The client connects lazily. Close it when the stores are closed.
func NewKafkaChangelog(opts ...kgo.Opt) (*KafkaChangelog, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("state: kafka client: %w", err)
	}
	return &KafkaChangelog{cl: cl, adm: kadm.NewClient(cl)}, nil
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
