package systest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
)

// The consumer groups of the pipeline: who owns what, whether they have
// settled and caught up, and what to log when a test fails.

// describeOnFailure logs every group's members and assignments when the
// test fails.
func describeOnFailure(t *testing.T, brokers []string) {
	t.Cleanup(func() {
		if t.Failed() {
			describeGroups(t, brokers)
		}
	})
}

// waitStable waits until every consumer group is stable with one member:
// the member has joined everything and owns every partition.
func waitStable(t *testing.T, ctx context.Context, brokers []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		groups, err := adm.ListGroups(ctx)
		if err == nil && len(groups) >= len(pipelineGroups()) {
			described, err := adm.DescribeGroups(ctx, groups.Groups()...)
			stable := err == nil
			for _, g := range described {
				stable = stable && g.State == "Stable" && len(g.Members) == 1
			}
			if stable {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("groups did not settle")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// describeGroups logs every consumer group's members and assignments.
func describeGroups(t *testing.T, brokers []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Log(err)
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Logf("list groups: %v", err)
		return
	}
	described, err := adm.DescribeGroups(ctx, groups.Groups()...)
	if err != nil {
		t.Logf("describe groups: %v", err)
	}
	for _, g := range described.Sorted() {
		t.Logf("group %s state %s protocol %s: %d members", g.Group, g.State, g.Protocol, len(g.Members))
		for _, m := range g.Members {
			a, _ := m.Assigned.AsConsumer()
			var parts []string
			if a != nil {
				for _, tp := range a.Topics {
					parts = append(parts, fmt.Sprintf("%s%v", tp.Topic, tp.Partitions))
				}
			}
			t.Logf("  member %s client %s host %s: %s", m.MemberID, m.ClientID, m.ClientHost, strings.Join(parts, " "))
		}
	}
}

// pipelineGroups are the consumer groups one member joins: the goka
// processors (sarama) and the relay (franz-go), from the topology.
func pipelineGroups() []string {
	var out []string
	for _, g := range (processors.Config{}).ConsumerGroups() {
		out = append(out, g.Group)
	}
	return out
}

// waitOwnership waits until every pipeline group is Stable with exactly
// len(members) members, each owning an even share of the partitions of
// every topic the group consumes and together all of them, and the relay
// groups' members are exactly the named processes (the relays' client ids;
// goka sets its own). It fails the test with the last description if that
// does not happen before ctx ends.
func waitOwnership(t *testing.T, ctx context.Context, brokers []string, partitions int, members ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last string
	for {
		described, err := adm.DescribeGroups(ctx, pipelineGroups()...)
		if err == nil {
			last = checkOwnership(described, partitions, members)
			if last == "" {
				return
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partition ownership with members %v never settled: %s", members, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkOwnership says what is not as expected, or "".
func checkOwnership(described kadm.DescribedGroups, partitions int, members []string) string {
	// An even split: each member owns lo or hi partitions of each topic
	// (with more members than partitions, some own none).
	lo, hi := partitions/len(members), (partitions+len(members)-1)/len(members)
	var problems []string
	for _, name := range pipelineGroups() {
		g, ok := described[name]
		switch {
		case !ok || g.Err != nil:
			problems = append(problems, fmt.Sprintf("%s: not described (%v)", name, g.Err))
			continue
		case g.State != "Stable":
			problems = append(problems, fmt.Sprintf("%s: %s", name, g.State))
			continue
		case len(g.Members) != len(members):
			problems = append(problems, fmt.Sprintf("%s: %d members, want %d", name, len(g.Members), len(members)))
			continue
		}
		owners := map[string]map[int32]int{} // topic -> partition -> owners
		var clients []string
		for _, m := range g.Members {
			clients = append(clients, m.ClientID)
			a, _ := m.Assigned.AsConsumer()
			if a == nil {
				problems = append(problems, fmt.Sprintf("%s: member %s has no consumer assignment", name, m.MemberID))
				continue
			}
			for _, tp := range a.Topics {
				if n := len(tp.Partitions); n < lo || n > hi {
					problems = append(problems, fmt.Sprintf("%s: member %s owns %s%v, want %d to %d partitions", name, m.MemberID, tp.Topic, tp.Partitions, lo, hi))
				}
				if owners[tp.Topic] == nil {
					owners[tp.Topic] = map[int32]int{}
				}
				for _, p := range tp.Partitions {
					owners[tp.Topic][p]++
				}
			}
		}
		if len(owners) == 0 {
			problems = append(problems, name+": nothing assigned")
		}
		for topic, ps := range owners {
			for p := range int32(partitions) {
				if ps[p] != 1 {
					problems = append(problems, fmt.Sprintf("%s: %s[%d] has %d owners", name, topic, p, ps[p]))
				}
			}
		}
		if strings.HasSuffix(name, "-relay") {
			sort.Strings(clients)
			want := slices.Sorted(slices.Values(members))
			if !slices.Equal(clients, want) {
				problems = append(problems, fmt.Sprintf("%s: members are %v, want %v", name, clients, want))
			}
		}
	}
	return strings.Join(problems, "; ")
}

// waitCaughtUp waits until every consumer group of the pipeline, upstream
// first, has consumed all of its input (loopback topics, which carry ticks
// all the time, aside).
func waitCaughtUp(t *testing.T, ctx context.Context, adm *kadm.Client) {
	t.Helper()
	// The groups of the layout the input topic makes.
	cfg, err := processors.ResolveLayout(ctx, adm, processors.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range cfg.ConsumerGroups() {
		var last string
		for {
			lags, err := adm.Lag(ctx, g.Group)
			if err == nil {
				l := lags[g.Group]
				if err = l.Error(); err == nil {
					// Its main input has been committed, and nothing is
					// left on any of its topics (the readings the windowed
					// stage re-keys to itself included).
					totals := l.Lag.TotalByTopic()
					caught := totals[g.Topics[0]].Topic != ""
					last = ""
					for _, topic := range g.Topics {
						if lag := totals[topic].Lag; lag != 0 {
							caught = false
							last += fmt.Sprintf("lag %d on %s ", lag, topic)
						}
					}
					if caught {
						break
					}
				}
			}
			if err != nil {
				last = err.Error()
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s never caught up: %s", g.Group, last)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// waitCommitted waits until group has committed the end of every partition
// of topics.
func waitCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group string, topics ...string) {
	t.Helper()
	var last string
	for {
		ends, err1 := adm.ListEndOffsets(ctx, topics...)
		committed, err2 := adm.FetchOffsets(ctx, group)
		last = fmt.Sprint(err1, err2)
		if err1 == nil && err2 == nil {
			behind := 0
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := committed.Lookup(o.Topic, o.Partition)
				if o.Offset > 0 && (!ok || c.At < o.Offset) {
					behind++
				}
			})
			if behind == 0 {
				return
			}
			last = fmt.Sprintf("%d partitions behind", behind)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never committed the end of %v: %s", group, topics, last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
