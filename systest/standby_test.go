package systest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
)

// TestHotStandby runs two members with HotStandby against the embedded
// broker. While both run, the second keeps a local replica of every table
// partition it does not own: a Pebble store in its state directory, kept
// by goka in passive mode and following the changelog as the first member
// writes it. When the first member leaves, the second takes those
// partitions over from the replicas (the stores it opens already hold the
// changelog up to where the replicas were, nothing rebuilt) and every
// published window still equals the reference.
func TestHotStandby(t *testing.T) {
	if testing.Short() {
		t.Skip("two members and a hand-over (about 40 s)")
	}
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	topics := processors.DefaultTopics()
	groups := processors.DefaultGroups()
	tables := map[string]string{groups.Windows: groups.Windows + "-table"}
	inCodec := inputCodec(t, s)
	readings := synthetic(17, 12, 48)
	third := len(readings) / 3
	began := time.Now()

	a := startStandbyMember(t, ctx, cancel, s, "member-a")
	waitOwnership(t, ctx, s.brokers, 3, "member-a")
	s.produce(t, ctx, topics.Input, inCodec, readings[:third], nil)
	b := startStandbyMember(t, ctx, cancel, s, "member-b")
	waitOwnership(t, ctx, s.brokers, 3, "member-a", "member-b")
	t.Logf("two members own the partitions %v after the start", time.Since(began).Round(100*time.Millisecond))
	// Written by member-a while member-b stands by.
	s.produce(t, ctx, topics.Input, inCodec, readings[third:2*third], nil)

	// member-b's replicas: every partition it does not own has a store in
	// its state directory, and its goka processor runs it passively and
	// follows the changelog past where it ended once member-a has written
	// the second slice.
	standby := map[string][]int32{} // group -> partitions member-b does not own
	for group := range tables {
		owned := b.waitOwned(t, ctx, group, func(ps []int32) bool { return len(ps) > 0 && len(ps) < 3 })
		for p := range int32(3) {
			if !slices.Contains(owned, p) {
				standby[group] = append(standby[group], p)
			}
		}
		t.Logf("%s: member-b owns %v, stands by for %v", group, owned, standby[group])
	}
	adm := kadm.NewClient(s.client)
	caughtUp := map[string]map[int32]int64{} // table -> partition -> last changelog offset reached by the replica
	// Let member-a process the second slice before taking the
	// changelogs' ends, so the replicas must follow what it wrote.
	waitCaughtUp(t, ctx, adm)
	for group, table := range tables {
		ends, err := adm.ListEndOffsets(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		caughtUp[table] = map[int32]int64{}
		for _, p := range standby[group] {
			end, ok := ends.Lookup(table, p)
			if !ok || end.Err != nil || end.Offset == 0 {
				t.Fatalf("%s[%d]: no changelog end (%+v): member-a wrote nothing there", table, p, end)
			}
			dir := filepath.Join(b.dir, fmt.Sprintf("%s.%d", table, p))
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				t.Fatalf("member-b keeps no store for %s[%d], which it does not own: %v", table, p, err)
			}
			caughtUp[table][p] = b.waitReplica(t, ctx, group, p, end.Offset-1)
		}
	}
	t.Logf("member-b's replicas reached the changelog ends %v after the start: %v", time.Since(began).Round(100*time.Millisecond), caughtUp)

	// member-a leaves; member-b takes over from its replicas.
	mark := b.log.len()
	at := time.Now()
	a.stop()
	waitOwnership(t, ctx, s.brokers, 3, "member-b")
	t.Logf("member-b owns every partition %v after member-a stopped", time.Since(at).Round(100*time.Millisecond))
	for group, table := range tables {
		b.waitOwned(t, ctx, group, func(ps []int32) bool { return len(ps) == 3 })
		// goka reports the partitions as owned at setup, before their
		// stores open: wait for the open lines.
		var names []string
		for _, p := range standby[group] {
			names = append(names, fmt.Sprintf("%s.%d", table, p))
		}
		opened := b.log.waitOpened(ctx, mark, names, 30*time.Second)
		for _, p := range standby[group] {
			o, ok := opened[fmt.Sprintf("%s.%d", table, p)]
			switch {
			case !ok:
				t.Errorf("%s[%d]: member-b did not open the store on taking over", table, p)
			case !o.hasOffset || o.rebuilt != "":
				t.Errorf("%s[%d]: member-b took over without its replica: %s", table, p, o.line)
			case o.offset < caughtUp[table][p]:
				t.Errorf("%s[%d]: the store member-b took over is at changelog offset %d, its replica had reached %d: %s",
					table, p, o.offset, caughtUp[table][p], o.line)
			default:
				t.Logf("%s[%d]: member-b took over its replica at changelog offset %d", table, p, o.offset)
			}
		}
	}

	s.produce(t, ctx, topics.Input, inCodec, readings[2*third:], nil)
	convergeToReference(t, ctx, s, readings)
	t.Logf("converged %v after the start", time.Since(began).Round(100*time.Millisecond))
}

// standbyMember is an in-process pipeline member with hot standby that the
// test can stop on its own and whose state directory, goka processors and
// debug log it can inspect.
type standbyMember struct {
	*inProcess
	dir string
	log *lineLog
}

func startStandbyMember(t *testing.T, ctx context.Context, cancel context.CancelFunc, s *stack, name string) *standbyMember {
	t.Helper()
	cfg := s.config(t)
	cfg.HotStandby = true
	cfg.SessionTimeout = 6 * time.Second // the broker's minimum
	// Long enough that no partition idles (and turns the next slice's
	// readings into late ones) between the slices and over the hand-over:
	// the survivor must window the last slice, not only pass it on as late.
	cfg.IdleTimeout = 10 * time.Second
	cfg.KafkaOpts = append(cfg.KafkaOpts, kgo.ClientID(name))
	m := &standbyMember{dir: cfg.State.Dir}
	cfg.Logger, m.log = newLineLog(slog.LevelDebug)
	m.inProcess = runMember(t, ctx, cancel, cfg, nil)
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("%s logged (warnings, state and goka lines):\n%s", name, m.log.relevant())
		}
	})
	return m
}

// waitOwned polls the member's active partitions of a group until ok.
func (m *standbyMember) waitOwned(t *testing.T, ctx context.Context, group string, ok func([]int32) bool) []int32 {
	t.Helper()
	for {
		owned := m.p.OwnedPartitions(group)
		if ok(owned) {
			return owned
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: this member owns %v", group, owned)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// goka's runModePassive (unexported): a hot-standby partition processor
// that only follows its table's changelog.
const passiveRunMode = goka.PPRunMode(1)

// waitReplica waits until the member's goka processor of group runs
// partition p passively and has applied its changelog through offset
// last, and returns the offset it reached.
func (m *standbyMember) waitReplica(t *testing.T, ctx context.Context, group string, p int32, last int64) int64 {
	t.Helper()
	var seen string
	for {
		for _, proc := range m.p.Processors() {
			if string(proc.Graph().Group()) != group {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			st := proc.StatsWithContext(sctx).Group[p]
			cancel()
			if st == nil || st.TableStats == nil || st.TableStats.Input == nil {
				seen = "no table stats"
				continue
			}
			ts := st.TableStats
			seen = fmt.Sprintf("run mode %d, status %d, last offset %d", ts.RunMode, ts.Status, ts.Input.LastOffset)
			if ts.RunMode != passiveRunMode {
				t.Fatalf("%s[%d]: the standby partition is not passive: %s", group, p, seen)
			}
			if ts.Status == goka.PartitionRunning && ts.Input.LastOffset >= last {
				return ts.Input.LastOffset
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s[%d]: the replica never reached changelog offset %d: %s", group, p, last, seen)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// relevant is what a failure report shows: warnings and errors, state
// store and goka lines.
func (l *lineLog) relevant() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, s := range l.lines {
		if !strings.Contains(s, "level=DEBUG") || strings.Contains(s, `msg="state:`) || strings.Contains(s, "component=goka") {
			b.WriteString(s)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

type openedStore struct {
	line      string
	offset    int64
	hasOffset bool
	rebuilt   string
}

var openedLine = regexp.MustCompile(`msg="state: opened" topic=(\S+) partition=(\d+) .*offset=(-?\d+) has_offset=(true|false) rebuilt=("(?:[^"\\]|\\.)*"|\S*)`)

// opened returns, by store directory name (<topic>.<partition>), the first
// "state: opened" line logged from line index from on.
func (l *lineLog) opened(from int) map[string]openedStore {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]openedStore{}
	for _, s := range l.lines[from:] {
		m := openedLine.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		name := m[1] + "." + m[2]
		if _, seen := out[name]; seen {
			continue
		}
		off, _ := strconv.ParseInt(m[3], 10, 64)
		rebuilt := m[5]
		if u, err := strconv.Unquote(rebuilt); err == nil {
			rebuilt = u
		}
		out[name] = openedStore{line: s, offset: off, hasOffset: m[4] == "true", rebuilt: rebuilt}
	}
	return out
}

// waitOpened polls opened(from) until it holds every name, for at most
// timeout, and returns what it found by then.
func (l *lineLog) waitOpened(ctx context.Context, from int, names []string, timeout time.Duration) map[string]openedStore {
	deadline := time.Now().Add(timeout)
	for {
		opened := l.opened(from)
		all := true
		for _, n := range names {
			if _, ok := opened[n]; !ok {
				all = false
			}
		}
		if all || time.Now().After(deadline) || ctx.Err() != nil {
			return opened
		}
		time.Sleep(100 * time.Millisecond)
	}
}
