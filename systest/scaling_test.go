package systest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
)

// TestScaleOutAndIn runs pipeline members as separate processes against the
// embedded broker while readings are produced: one member, then three, then
// one leaves gracefully (SIGTERM) and one is killed (SIGKILL). At each step
// every group's partitions must be split evenly over exactly the live
// members (6 partitions: 6, then 2 each, then 3 each, then all 6 on the
// survivor), and at the end every device and station window must equal the
// reference: state moved through the changelogs on every join and leave.
func TestScaleOutAndIn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three member processes (about 30 s)")
	}
	const partitions = 6
	s, registryURL, inCodec := newChildStack(t, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topics := processors.DefaultTopics()
	readings := synthetic(11, 24, 100)
	const nslices = 4
	per := len(readings) / nslices
	slice := func(i int) {
		end := (i + 1) * per
		if i == nslices-1 {
			end = len(readings)
		}
		s.produce(t, ctx, topics.Input, inCodec, readings[i*per:end], nil)
	}
	start := func(name string) *child {
		return startMember(t, s.brokers, registryURL, t.TempDir(),
			fmt.Sprintf("TURNSTILE_PARTITIONS=%d", partitions), "TURNSTILE_MEMBER="+name)
	}
	began := time.Now()

	start("member-1")
	slice(0)
	waitOwnership(t, ctx, s.brokers, partitions, "member-1")
	t.Logf("1 member owns all %d partitions of every group after %v", partitions, time.Since(began).Round(100*time.Millisecond))

	at := time.Now()
	m2 := start("member-2")
	m3 := start("member-3")
	slice(1)
	waitOwnership(t, ctx, s.brokers, partitions, "member-1", "member-2", "member-3")
	t.Logf("scale out 1 -> 3: every member owns 2 partitions of every group %v after the new members started", time.Since(at).Round(100*time.Millisecond))

	at = time.Now()
	m2.terminate(t, 60*time.Second)
	t.Logf("member-2 left after SIGTERM in %v", time.Since(at).Round(100*time.Millisecond))
	slice(2)
	waitOwnership(t, ctx, s.brokers, partitions, "member-1", "member-3")
	t.Logf("graceful leave: the 2 remaining members own 3 partitions each %v after SIGTERM", time.Since(at).Round(100*time.Millisecond))

	at = time.Now()
	m3.kill()
	slice(3)
	waitOwnership(t, ctx, s.brokers, partitions, "member-1")
	t.Logf("kill: the survivor owns all %d partitions %v after SIGKILL", partitions, time.Since(at).Round(100*time.Millisecond))

	convergeToReference(t, ctx, s, readings)
	t.Logf("converged %v after the first member started", time.Since(began).Round(100*time.Millisecond))
}

// TestIdleStandbyMember runs two members against one partition: one of them
// gets nothing in each goka group and must say so in its log.
func TestIdleStandbyMember(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	logs := map[string]*lineLog{}
	t.Cleanup(func() {
		if t.Failed() {
			for name, l := range logs {
				t.Logf("%s logged:\n%s", name, l.String())
			}
		}
	})
	member := func(name string) {
		cfg := s.config(t)
		cfg.Partitions = 1
		cfg.SessionTimeout = 6 * time.Second
		cfg.KafkaOpts = append(cfg.KafkaOpts, kgo.ClientID(name))
		logs[name] = &lineLog{}
		cfg.Logger = slog.New(slog.NewTextHandler(logs[name], &slog.HandlerOptions{Level: slog.LevelInfo}))
		mctx, mcancel := context.WithCancel(ctx)
		runPipeline(t, mctx, mcancel, cfg)
	}
	member("member-a")
	waitOwnership(t, ctx, s.brokers, 1, "member-a")
	if logs["member-a"].contains(msgIdleStandby) {
		t.Errorf("the only member logged idle standby")
	}
	member("member-b")
	// Both members in every group; partition 0 of each topic owned once.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for last := ""; ; {
		described, err := adm.DescribeGroups(ctx, pipelineGroups()...)
		if err == nil {
			if last = checkOwnership(described, 1, []string{"member-a", "member-b"}); last == "" {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the second member never joined every group: %s", last)
		case <-time.After(250 * time.Millisecond):
		}
	}
	g := processors.DefaultGroups()
	for _, group := range []string{g.Ingest, g.Windows, g.Stations} {
		line := msgIdleStandby + `" group=` + group
		var idle []string
		for name, l := range logs {
			if l.contains(line) {
				idle = append(idle, name)
			}
		}
		// One of the two (goka picks which; a later rebalance may pick
		// the other) logged it.
		if len(idle) == 0 {
			t.Errorf("group %s: no member logged idle standby", group)
		}
	}
}

// msgIdleStandby is the line a member logs for each group it got no
// partition of, as the README's Scaling section shows it to operators.
const msgIdleStandby = "idle standby: no partitions assigned in this group (more members than partitions); taking over when a member leaves"

// lineLog is a concurrency-safe log sink a test can search.
type lineLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineLog) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// pipelineGroups are the consumer groups one member joins: the three goka
// processors (sarama) and the two relays (franz-go).
func pipelineGroups() []string {
	g := processors.DefaultGroups()
	return []string{g.Ingest, g.Windows, g.Stations, g.Windows + "-relay", g.Stations + "-relay"}
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
