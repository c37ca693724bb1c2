package systest

import (
	"context"
	"log/slog"
	"testing"
	"time"

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
	s := newChildStack(t, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	topics := processors.DefaultTopics()
	inCodec := readingCodec(t, s, topics.Input, 0)
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
		return startMember(t, s, t.TempDir(), partitions, name)
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
		cfg.Logger, logs[name] = newLineLog(slog.LevelInfo)
		runMember(t, ctx, cancel, cfg, nil)
	}
	member("member-a")
	waitOwnership(t, ctx, s.brokers, 1, "member-a")
	if len(logs["member-a"].matching(0, msgIdleStandby)) > 0 {
		t.Errorf("the only member logged idle standby")
	}
	member("member-b")
	// Both members in every group; partition 0 of each topic owned once.
	waitOwnership(t, ctx, s.brokers, 1, "member-a", "member-b")
	for _, st := range (processors.Config{}).Stages() {
		group := st.Group
		line := msgIdleStandby + `" group=` + group
		var idle []string
		for name, l := range logs {
			if len(l.matching(0, line)) > 0 {
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
// partition of, as docs/operations.md's Scaling section shows it to operators.
const msgIdleStandby = "idle standby: no partitions assigned in this group (more members than partitions); taking over when a member leaves"
