package processors

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicSpec is one topic the pipeline needs.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]*string
	// CoPartitioned topics must have the pipeline's partition count:
	// goka joins them by partition.
	CoPartitioned bool
	// PartitionsOf, when set, names an earlier topic whose partition count
	// this one must have (the ingest stage's loopback follows the input,
	// which may exist with any count).
	PartitionsOf string
}

// TopicSpecs lists every topic of the graph with its partitions and
// configs (Topology().Topics): changelogs compacted and protected until the
// relays read them, the rest deleted by time.
func (c Config) TopicSpecs() []TopicSpec { return c.Topology().Topics }

// EnsureTopics creates the missing topics with explicit partitions and
// configs and checks that existing co-partitioned topics have the right
// partition count. It returns the names it created and every topic's
// partition count.
func EnsureTopics(ctx context.Context, adm *kadm.Client, specs []TopicSpec, replication int16) (created []string, partitions map[string]int, err error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, nil, fmt.Errorf("processors: list topics: %w", err)
	}
	partitions = map[string]int{}
	for _, s := range specs {
		if n, ok := partitions[s.PartitionsOf]; ok {
			s.Partitions, s.CoPartitioned = int32(n), true
		}
		if d, ok := existing[s.Name]; ok && d.Err == nil {
			partitions[s.Name] = len(d.Partitions)
			if s.CoPartitioned && int32(len(d.Partitions)) != s.Partitions {
				return created, partitions, fmt.Errorf("processors: topic %s has %d partitions, the pipeline needs %d (all co-partitioned topics must match --partitions)",
					s.Name, len(d.Partitions), s.Partitions)
			}
			continue
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, replication, s.Configs, s.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return created, partitions, fmt.Errorf("processors: create topic %s: %w", s.Name, err)
		}
		created = append(created, s.Name)
		partitions[s.Name] = int(s.Partitions)
	}
	return created, partitions, nil
}
