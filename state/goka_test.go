package state_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/internal/gokalog"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// counterApp is a goka processor counting input messages per key in its
// group table, with our storage under dir.
type counterApp struct {
	addr  string
	dir   string
	group goka.Group
	input goka.Stream
	// wrapChangelog, when set, wraps the stores' changelog (Options.Changelog).
	wrapChangelog func(*state.KafkaChangelog) state.ChangelogInfo
	// recoverOnOpen is Options.RecoverOnOpen.
	recoverOnOpen time.Duration
}

func (a counterApp) table() string { return string(goka.GroupTable(a.group)) }

func saramaConfig() *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	// kfake's minimum: a SIGKILLed member is replaced after 6 s.
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	return cfg
}

// running is one run of the processor.
type running struct {
	p      *goka.Processor
	stores *state.Stores
	cl     *state.KafkaChangelog
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with its error in err
	err    error
	seen   *atomic.Int64 // messages the callback saw
}

// start runs the processor and waits until it is ready (all partitions
// recovered and consuming).
func (a counterApp) start(t testing.TB, log *slog.Logger) *running {
	t.Helper()
	r := a.startNoWait(t, log)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		// WaitForReady can miss a rebalance: wait in short rounds.
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		err := r.p.WaitForReadyContext(wctx)
		wcancel()
		if err == nil {
			select {
			case <-r.done:
				t.Fatalf("processor stopped while starting: %v", r.err)
			default:
			}
			return r
		}
		if ctx.Err() != nil {
			t.Fatalf("processor not ready: %v", err)
		}
	}
}

func (a counterApp) startNoWait(t testing.TB, log *slog.Logger) *running {
	t.Helper()
	cl, err := state.NewKafkaChangelog(kgo.SeedBrokers(a.addr))
	if err != nil {
		t.Fatal(err)
	}
	var info state.ChangelogInfo = cl
	if a.wrapChangelog != nil {
		info = a.wrapChangelog(cl)
	}
	stores, err := state.New(state.Options{Dir: a.dir, Logger: log, Changelog: info, RecoverOnOpen: a.recoverOnOpen})
	if err != nil {
		t.Fatal(err)
	}
	seen := new(atomic.Int64)
	g := goka.DefineGroup(a.group,
		goka.Input(a.input, new(codec.String), func(ctx goka.Context, _ any) {
			var n int64
			if v := ctx.Value(); v != nil {
				n = v.(int64)
			}
			ctx.SetValue(n + 1)
			seen.Add(1)
		}),
		goka.Persist(new(codec.Int64)),
	)
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	cfg := saramaConfig()
	p, err := goka.NewProcessor([]string{a.addr}, g,
		goka.WithStorageBuilder(stores.Build),
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(cfg, tmc)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(cfg)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(cfg)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(cfg)),
		goka.WithLogger(gokalog.New(log, "goka")),
	)
	if err != nil {
		t.Fatalf("new processor: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, stores: stores, cl: cl, cancel: cancel, done: make(chan struct{}), seen: seen}
	go func() {
		r.err = p.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the processor and checks that it closed its stores.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
		if r.err != nil && !errors.Is(r.err, context.Canceled) {
			t.Errorf("processor: %v", r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("processor did not stop")
	}
	r.cl.Close()
	if open := r.stores.Stats(); len(open) != 0 {
		t.Errorf("stores still open after the processor stopped: %+v", open)
	}
}

// produce writes n messages to topic, message i keyed key(i%keys).
func produce(t testing.TB, addr, topic string, from, n, keys int) {
	t.Helper()
	// Goka places keys with sarama's FNV-1a hash and expects its inputs
	// copartitioned with its table; franz-go's default partitioner would
	// put keys elsewhere and a partition would write keys (and offsets) of
	// another changelog partition.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(schemas.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	for i := from; i < from+n; i++ {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%03d", i%keys)), Value: []byte("x")}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatalf("produce: %v", err)
	default:
	}
}

// waitConsumed waits until the group committed the end of every input
// partition: every message was processed and its table writes acknowledged.
func (a counterApp) waitConsumed(t testing.TB) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for {
		ends, err := adm.ListEndOffsets(ctx, string(a.input))
		if err == nil {
			var offs kadm.OffsetResponses
			offs, err = adm.FetchOffsets(ctx, string(a.group))
			if err == nil {
				done := true
				ends.Each(func(o kadm.ListedOffset) {
					c, ok := offs.Lookup(o.Topic, o.Partition)
					if !ok || c.At < o.Offset {
						done = false
					}
				})
				if done {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("input not consumed: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// changelog reads the table topic and returns what it says the table is:
// the last value of every key (a nil value deletes), and its record count.
func (a counterApp) changelog(t testing.TB) (map[string]string, int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.addr), kgo.ConsumeTopics(a.table()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, a.table())
	if err != nil {
		t.Fatal(err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	out := map[string]string{}
	var n int64
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read changelog: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Value == nil {
				delete(out, string(r.Key))
			} else {
				out[string(r.Key)] = string(r.Value)
			}
			if end, ok := remaining[r.Partition]; ok && r.Offset >= end-1 {
				delete(remaining, r.Partition)
			}
		})
	}
	return out, n
}

// contents opens the (closed) stores of the app's table and returns them.
func (a counterApp) contents(t testing.TB, partitions int32) map[string]string {
	t.Helper()
	ss, err := state.New(state.Options{Dir: a.dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for p := int32(0); p < partitions; p++ {
		st, err := ss.Store(a.table(), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Open(); err != nil {
			t.Fatal(err)
		}
		it, err := st.Iterator()
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
			v, err := it.Value()
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := out[string(it.Key())]; dup {
				t.Fatalf("key %q in two partitions", it.Key())
			}
			out[string(it.Key())] = string(v)
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		it.Release()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sameTable fails unless got and want hold the same keys and values.
func sameTable(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: nothing to compare", what)
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok || g != want[k] {
			t.Fatalf("%s: key %q is %q (present %v), want %q", what, k, g, ok, want[k])
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Fatalf("%s: extra key %q = %q", what, k, v)
		}
	}
}

func sum(t testing.TB, table map[string]string) int64 {
	t.Helper()
	var n int64
	for k, v := range table {
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("key %q: value %q", k, v)
		}
		n += c
	}
	return n
}

func recoveryWrites(stats []state.PartitionStats) int64 {
	var n int64
	for _, s := range stats {
		n += s.RecoveryWrites
	}
	return n
}

const gokaPartitions = 2

// countedApp is a counter app on an embedded broker of its own that has
// counted 3,000 messages over 100 keys and stopped: its changelog holds
// them.
func countedApp(t *testing.T) (counterApp, *slog.Logger) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs goka against the embedded broker")
	}
	log := testLogger(t)
	b := testenv.Broker(t, "")
	a := newCounterApp(t, b.Addr())
	produce(t, a.addr, string(a.input), 0, 3000, 100)
	r := a.start(t, log)
	a.waitConsumed(t)
	if st := r.stores.Stats(); len(st) != gokaPartitions || recoveryWrites(st) != 0 {
		t.Fatalf("first run: want %d fresh partitions, got %+v", gokaPartitions, st)
	}
	r.stop(t)
	return a, log
}

func newCounterApp(t *testing.T, addr string) counterApp {
	a := counterApp{
		addr:  addr,
		dir:   filepath.Join(t.TempDir(), "state"),
		group: goka.Group("counter"),
		input: goka.Stream("events"),
	}
	testenv.CreateTopic(t, addr, string(a.input), gokaPartitions, nil)
	return a
}

// TestProcessorRestart runs a counting processor, restarts it with its
// local state kept (it must resume without reading the changelog), then
// with its state deleted (it must rebuild identical contents).
func TestProcessorRestart(t *testing.T) {
	a, log := countedApp(t)
	want, records := a.changelog(t)
	if got := sum(t, want); got != 3000 {
		t.Fatalf("changelog counts %d messages, want 3000", got)
	}
	sameTable(t, "after first run", a.contents(t, gokaPartitions), want)

	// Restart with the state kept: goka finds its offsets at the changelog
	// end and reads nothing.
	r := a.start(t, log)
	st := r.stores.Stats()
	for _, s := range st {
		if s.Rebuilt != "" || !s.Recovered || s.Offset < 0 {
			t.Fatalf("kept store: %+v", s)
		}
	}
	if n := recoveryWrites(st); n != 0 {
		t.Fatalf("restart with local state re-applied %d of %d changelog records", n, records)
	}
	produce(t, a.addr, string(a.input), 3000, 1000, 100)
	a.waitConsumed(t)
	r.stop(t)
	want, records = a.changelog(t)
	if got := sum(t, want); got != 4000 {
		t.Fatalf("changelog counts %d messages, want 4000", got)
	}
	before := a.contents(t, gokaPartitions)
	sameTable(t, "after second run", before, want)

	// Restart with the state deleted: the stores recover from the changelog
	// as they open.
	if err := removeAll(a.dir); err != nil {
		t.Fatal(err)
	}
	r = a.start(t, log)
	st = r.stores.Stats()
	if n := recoveryWrites(st); n == 0 || n > records || n < int64(len(want)) {
		t.Fatalf("rebuild applied %d changelog records; the changelog has %d records, %d keys", n, records, len(want))
	}
	r.stop(t)
	sameTable(t, "rebuilt from the changelog", a.contents(t, gokaPartitions), before)
}

func init() {
	helpers["goka-counter"] = gokaCounterHelper
}

// gokaCounterHelper runs the counting processor against STATE_ADDR with its
// state in STATE_DIR and reports "processed <n>" until it is killed.
func gokaCounterHelper(t *testing.T) {
	a := counterApp{
		addr:  os.Getenv("STATE_ADDR"),
		dir:   os.Getenv("STATE_DIR"),
		group: goka.Group("counter"),
		input: goka.Stream("events"),
	}
	r := a.startNoWait(t, testLogger(t))
	var last int64
	for {
		select {
		case <-r.done:
			t.Fatalf("processor stopped: %v", r.err)
		case <-time.After(20 * time.Millisecond):
		}
		if n := r.seen.Load(); n/1000 != last/1000 {
			fmt.Printf("processed %d\n", n)
			last = n
		}
	}
}

// TestProcessorKilledMidWrite SIGKILLs a process running the processor
// while it writes, then restarts it on the same state. Goka wrote values
// locally before the changelog acknowledged them, so the killed stores are
// rebuilt from the changelog (not trusted), and the table ends up equal to
// what the changelog says (goka is at-least-once, so counts may exceed the
// input).
func TestProcessorKilledMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs goka against the embedded broker")
	}
	log := testLogger(t)
	b := testenv.Broker(t, "")
	a := newCounterApp(t, b.Addr())
	const n = 100000
	produce(t, a.addr, string(a.input), 0, n, 500)

	c := startHelper(t, "goka-counter", "STATE_ADDR="+a.addr, "STATE_DIR="+a.dir)
	killedAt := c.waitFor(t, "processed", 20000, 90*time.Second)
	c.kill(t)
	_, before := a.changelog(t)
	t.Logf("killed after processing about %d messages; changelog has %d records", killedAt, before)

	r := a.start(t, log)
	st := r.stores.Stats()
	for _, s := range st {
		if !strings.Contains(s.Rebuilt, "not closed cleanly") {
			t.Fatalf("store not rebuilt after SIGKILL: %+v", s)
		}
	}
	t.Logf("restart rebuilt the stores from %d changelog records", recoveryWrites(st))
	a.waitConsumed(t)
	r.stop(t)
	want, _ := a.changelog(t)
	sameTable(t, "after the crash", a.contents(t, gokaPartitions), want)
	if got := sum(t, want); got < n {
		t.Fatalf("table counts %d messages, want at least %d", got, n)
	}
}

// TestProcessorOnWipedBroker runs the processor, then replaces the broker by
// one with fresh data (a new cluster, topics recreated) under the surviving
// local state: the stores must be detected as foreign and rebuilt, and the
// table must count only the new input.
func TestProcessorOnWipedBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs goka against the embedded broker")
	}
	log := testLogger(t)
	b1 := testenv.Broker(t, t.TempDir())
	a := newCounterApp(t, b1.Addr())
	produce(t, a.addr, string(a.input), 0, 2000, 50)
	r := a.start(t, log)
	a.waitConsumed(t)
	r.stop(t)
	b1.Close()

	b2 := testenv.Broker(t, t.TempDir())
	a.addr = b2.Addr()
	testenv.CreateTopic(t, a.addr, string(a.input), gokaPartitions, nil)
	produce(t, a.addr, string(a.input), 0, 500, 50)
	r = a.start(t, log)
	for _, s := range r.stores.Stats() {
		if !strings.Contains(s.Rebuilt, "cluster") {
			t.Fatalf("store on a wiped broker not rebuilt as foreign: %+v", s)
		}
	}
	a.waitConsumed(t)
	r.stop(t)
	want, _ := a.changelog(t)
	sameTable(t, "on the new broker", a.contents(t, gokaPartitions), want)
	for k, v := range want {
		if v != "10" {
			t.Fatalf("key %s counts %s, want 10 (old state leaked in)", k, v)
		}
	}
}

// TestProcessorRebuildsBadStores leaves one partition's store ahead of its
// changelog and garbles the other's, then restarts the processor: both are
// rebuilt from the changelog.
func TestProcessorRebuildsBadStores(t *testing.T) {
	a, log := countedApp(t)
	want, _ := a.changelog(t)

	// Partition 0: an offset past the changelog's end.
	ss, err := state.New(state.Options{Dir: a.dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st, err := ss.Store(a.table(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOffset(1 << 20); err != nil {
		t.Fatal(err)
	}
	if err := st.Set("ghost", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Partition 1: a garbled MANIFEST.
	ms, _ := filepath.Glob(filepath.Join(a.dir, a.table()+".1", "MANIFEST-*"))
	if len(ms) == 0 {
		t.Fatal("no MANIFEST")
	}
	for _, m := range ms {
		garble(t, m, 0)
	}

	r := a.start(t, log)
	st0 := r.stores.Stats()
	if len(st0) != 2 || !strings.Contains(st0[0].Rebuilt, "not below the changelog's end") ||
		!strings.Contains(st0[1].Rebuilt, "pebble cannot open") {
		t.Fatalf("stores not rebuilt: %+v", st0)
	}
	r.stop(t)
	sameTable(t, "rebuilt", a.contents(t, gokaPartitions), want)
}

// TestRecoveryOverATransactionMarker: a changelog partition whose last
// offset holds no record (here a transaction's commit marker; the same
// happens when compaction removes the newest records) made goka's recovery
// wait forever for a record at end − 1. The store seals such a tail before
// goka recovers, and recovery ends with the table exact, both into an
// empty store and into one that holds every record but the marker.
func TestRecoveryOverATransactionMarker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs goka against the embedded broker")
	}
	log := testLogger(t)
	b := testenv.Broker(t, "")
	a := newCounterApp(t, b.Addr())
	testenv.CreateTopic(t, a.addr, a.table(), gokaPartitions, map[string]*string{"cleanup.policy": ptr("compact")})
	txn, err := kgo.NewClient(kgo.SeedBrokers(a.addr), kgo.TransactionalID("seal-test"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := map[string]string{}
	commit := func(batch int) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := range int32(gokaPartitions) {
			for i := range 20 {
				k, v := fmt.Sprintf("key-%d-%d-%d", batch, p, i), strconv.Itoa(i+1)
				want[k] = v
				txn.Produce(ctx, &kgo.Record{Topic: a.table(), Partition: p, Key: []byte(k), Value: []byte(v)}, nil)
			}
		}
		if err := txn.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}

	for i, run := range []string{"into an empty store", "into a kept store"} {
		commit(i) // the partition ends with a commit marker again
		r := a.startNoWait(t, log)
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		err := r.p.WaitForReadyContext(wctx)
		wcancel()
		if err != nil {
			t.Fatalf("%s: recovery did not finish: %v", run, err)
		}
		r.stop(t)
		got := a.contents(t, gokaPartitions)
		delete(got, state.SealKey) // never present: a tombstone
		sameTable(t, run, got, want)
	}
}

func ptr(s string) *string { return &s }
