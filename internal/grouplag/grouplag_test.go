package grouplag_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/internal/grouplag"
)

const topic = "in"

func listed(offs map[int32]int64, errs ...int32) kadm.ListedOffsets {
	out := kadm.ListedOffsets{topic: {}}
	for p, o := range offs {
		out[topic][p] = kadm.ListedOffset{Topic: topic, Partition: p, Offset: o}
	}
	for _, p := range errs {
		out[topic][p] = kadm.ListedOffset{Topic: topic, Partition: p, Err: errors.New("not listed")}
	}
	return out
}

func commits(offs map[int32]int64) kadm.OffsetResponses {
	if offs == nil {
		return nil
	}
	out := kadm.OffsetResponses{topic: {}}
	for p, o := range offs {
		out[topic][p] = kadm.OffsetResponse{Offset: kadm.Offset{Topic: topic, Partition: p, At: o}}
	}
	return out
}

// TestCompute checks the package's rules; lag -1 stands for "unknown" (Err
// set).
func TestCompute(t *testing.T) {
	for _, tc := range []struct {
		name             string
		group            kadm.DescribedGroup
		starts, ends, cm map[int32]int64
		endErrs          []int32
		want             map[int32]int64
	}{
		{name: "caught up and behind", starts: map[int32]int64{0: 0, 1: 0}, ends: map[int32]int64{0: 10, 1: 10}, cm: map[int32]int64{0: 10, 1: 4},
			want: map[int32]int64{0: 0, 1: 6}},
		{name: "no commit: every record it holds", starts: map[int32]int64{0: 30}, ends: map[int32]int64{0: 50},
			want: map[int32]int64{0: 20}},
		{name: "no commit on one partition of a committed topic", starts: map[int32]int64{0: 0, 1: 5}, ends: map[int32]int64{0: 9, 1: 8}, cm: map[int32]int64{0: 9},
			want: map[int32]int64{0: 0, 1: 3}},
		{name: "an empty partition with no commit is caught up", starts: map[int32]int64{0: 0}, ends: map[int32]int64{0: 0},
			want: map[int32]int64{0: 0}},
		{name: "a commit below the log start counts from the start", starts: map[int32]int64{0: 40}, ends: map[int32]int64{0: 50}, cm: map[int32]int64{0: 5},
			want: map[int32]int64{0: 10}},
		{name: "a commit of -1 is none", starts: map[int32]int64{0: 0}, ends: map[int32]int64{0: 3}, cm: map[int32]int64{0: -1},
			want: map[int32]int64{0: 3}},
		{name: "a commit past the end is caught up", starts: map[int32]int64{0: 0}, ends: map[int32]int64{0: 3}, cm: map[int32]int64{0: 7},
			want: map[int32]int64{0: 0}},
		{name: "no start offset: counts from 0", ends: map[int32]int64{0: 4},
			want: map[int32]int64{0: 4}},
		{name: "end offset not listed: unknown", starts: map[int32]int64{0: 0, 1: 0}, ends: map[int32]int64{0: 4}, endErrs: []int32{1}, cm: map[int32]int64{0: 4, 1: 4},
			want: map[int32]int64{0: 0, 1: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.group.Group = "g"
			got := map[int32]int64{}
			for p, l := range grouplag.Compute(tc.group, commits(tc.cm), listed(tc.starts), listed(tc.ends, tc.endErrs...), topic)[topic] {
				if l.Err != nil {
					if l.Lag != -1 {
						t.Errorf("partition %d: error %v with lag %d", p, l.Err, l.Lag)
					}
					got[p] = -1
					continue
				}
				got[p] = l.Lag
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("lag %v, want %v", got, tc.want)
			}
		})
	}
}

// TestComputeOnlyAskedTopics: topics the group commits to but the caller
// did not ask about (a goka group's loopback) are left out, and the
// caller's commits are not modified.
func TestComputeOnlyAskedTopics(t *testing.T) {
	cm := commits(map[int32]int64{0: 1})
	cm["loop"] = map[int32]kadm.OffsetResponse{0: {Offset: kadm.Offset{Topic: "loop", At: 3}}}
	ends := listed(map[int32]int64{0: 2})
	ends["loop"] = map[int32]kadm.ListedOffset{0: {Topic: "loop", Offset: 9}}
	got := grouplag.Compute(kadm.DescribedGroup{Group: "g"}, cm, nil, ends, topic, "never-committed")
	if _, ok := got["loop"]; ok {
		t.Error("loop topic reported")
	}
	if l := got[topic][0]; l.Lag != 1 || l.Err != nil {
		t.Errorf("lag %d err %v, want 1", l.Lag, l.Err)
	}
	if len(cm) != 2 {
		t.Errorf("commits modified: %v", cm)
	}
}
