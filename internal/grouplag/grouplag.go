package grouplag

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Compute returns the group's lag on each of topics, per partition listed
// in ends, by the rules of the package. group is the group's description
// (its members' assignments; a zero value with only the name will do),
// commits its committed offsets (nil: none), starts and ends the topics'
// log start and end offsets. A partition's Lag is meaningful only when its
// Err is nil; Commit.At is -1 when nothing is committed.
func Compute(group kadm.DescribedGroup, commits kadm.OffsetResponses, starts, ends kadm.ListedOffsets, topics ...string) kadm.GroupLag {
	// kadm reports a topic only when a member is assigned it or the group
	// committed to it; an empty commit entry makes it report every listed
	// partition of the topic, as never committed. The caller's map is left
	// alone.
	all := make(kadm.OffsetResponses, len(commits)+len(topics))
	for t, ps := range commits {
		all[t] = ps
	}
	for _, t := range topics {
		if all[t] == nil {
			all[t] = map[int32]kadm.OffsetResponse{}
		}
	}
	lag := kadm.CalculateGroupLagWithStartOffsets(group, all, starts, ends)
	out := make(kadm.GroupLag, len(topics))
	for _, t := range topics {
		ps := make(map[int32]kadm.GroupMemberLag, len(lag[t]))
		for p, l := range lag[t] {
			if l.Err == nil && l.Commit.At >= 0 && l.Start.Err == nil && l.Commit.At < l.Start.Offset {
				l.Lag = max(0, l.End.Offset-l.Start.Offset)
			}
			ps[p] = l
		}
		out[t] = ps
	}
	return out
}

// Fetch asks the cluster for the group's commits and description and the
// topics' start and end offsets, and returns Compute's answer. Commits are
// read before end offsets, so a partition reported caught up had consumed
// at least everything written to it before the commits were read. A
// request that fails as a whole is an error; a partition that fails alone
// has its Err set.
func Fetch(ctx context.Context, adm *kadm.Client, group string, topics ...string) (kadm.GroupLag, error) {
	commits, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		commits, err = nil, nil // never committed (the embedded broker says so; Kafka answers empty)
	}
	if err != nil {
		return nil, fmt.Errorf("grouplag: committed offsets of %s: %w", group, err)
	}
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("grouplag: describe %s: %w", group, err)
	}
	d, ok := described[group]
	if !ok || d.Err != nil {
		d = kadm.DescribedGroup{Group: group}
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("grouplag: start offsets of %v: %w", topics, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("grouplag: end offsets of %v: %w", topics, err)
	}
	return Compute(d, commits, starts, ends, topics...), nil
}
