package processors

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
	"github.com/turnstile-streams/turnstile/wire"
)

// The lag rules themselves (no commit, a commit below the log start,
// unknown offsets) are tested in internal/grouplag, their one place.

// TestCaughtUpOnUnknownOffsets: when the offsets cannot be listed (here no
// broker answers), no partition is caught up, so none can be marked idle,
// and the lag is unknown, so no watermark.Gate opens on it.
func TestCaughtUpOnUnknownOffsets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tk := &ticker{cl: cl, adm: kadm.NewClient(cl), lagGroup: "g", lagTopic: "in", interval: 300 * time.Millisecond, log: slog.New(slog.DiscardHandler)}
	caught, lagging, ends, known := tk.lag(context.Background())
	for p, ok := range caught {
		if ok {
			t.Errorf("partition %d is caught up although its offsets are unknown", p)
		}
	}
	if known || len(lagging) > 0 || len(ends) > 0 {
		t.Errorf("lag known %v (lagging %v, ends %v) although no broker answers", known, lagging, ends)
	}
}

// TestQuietNeverOverstates: a partition's quiet runs from the end of the
// listing that first returned its current end offset to the start of the
// current one, so it never claims more silence than there was; an end
// that moved, or could not be listed, starts over.
func TestQuietNeverOverstates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const took = 10 * time.Millisecond // each listing's duration
	tk := &ticker{}
	for _, step := range []struct {
		wall time.Duration
		ends map[int32]int64
		want map[int32]time.Duration
	}{
		{0, map[int32]int64{0: 5, 1: 7}, map[int32]time.Duration{}}, // first sighting: unknown
		{time.Second, map[int32]int64{0: 5, 1: 8}, map[int32]time.Duration{0: time.Second - took}},
		{2 * time.Second, map[int32]int64{0: 5}, map[int32]time.Duration{0: 2*time.Second - took}}, // 1 unlisted
		{3 * time.Second, map[int32]int64{0: 5, 1: 8}, map[int32]time.Duration{0: 3*time.Second - took}},
		{4 * time.Second, map[int32]int64{0: 6, 1: 8}, map[int32]time.Duration{1: time.Second - took}},
	} {
		got := tk.quiet(at(step.wall), at(step.wall+took), step.ends, nil)
		if !reflect.DeepEqual(got, step.want) {
			t.Errorf("at %v with ends %v: quiet %v, want %v", step.wall, step.ends, got, step.want)
		}
	}
}

// TestQuietOfADeclaredEnd: a partition whose end offset is the one a
// producer declared is quiet without bound (inputEnded) from the first
// tick that sees it, and its ticks carry that end (unless it is 0); once
// the end moves past the declaration it is quiet only for as long as it
// was, as if nothing had been declared.
func TestQuietOfADeclaredEnd(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const took = 10 * time.Millisecond
	tk := &ticker{}
	for _, step := range []struct {
		wall      time.Duration
		ends      map[int32]int64
		declared  map[int32]int64
		want      map[int32]time.Duration
		wantEnded map[int32]int64
	}{
		// 0 is declared at its end, 2 is declared empty and is; 1's
		// declaration is behind its end (another producer wrote since).
		{0, map[int32]int64{0: 5, 1: 8, 2: 0}, map[int32]int64{0: 5, 1: 7, 2: 0}, map[int32]time.Duration{0: inputEnded, 2: inputEnded},
			map[int32]int64{0: 5}},
		{time.Second, map[int32]int64{0: 5, 1: 8, 2: 0}, map[int32]int64{0: 5, 1: 7, 2: 0},
			map[int32]time.Duration{0: inputEnded, 1: time.Second - took, 2: inputEnded}, map[int32]int64{0: 5}},
		// 0 grows past its declaration: its silence starts over.
		{2 * time.Second, map[int32]int64{0: 6, 1: 8, 2: 0}, map[int32]int64{0: 5, 1: 7, 2: 0},
			map[int32]time.Duration{1: 2*time.Second - took, 2: inputEnded}, nil},
		{3 * time.Second, map[int32]int64{0: 6, 1: 8, 2: 0}, nil,
			map[int32]time.Duration{0: time.Second - took, 1: 3*time.Second - took, 2: 3*time.Second - took}, nil},
	} {
		got := tk.quiet(at(step.wall), at(step.wall+took), step.ends, step.declared)
		var ended map[int32]int64
		for p, end := range step.ends {
			if e := endsAt(got[p], end); e > 0 {
				if ended == nil {
					ended = map[int32]int64{}
				}
				ended[p] = e
			}
		}
		if !reflect.DeepEqual(got, step.want) || !reflect.DeepEqual(ended, step.wantEnded) {
			t.Errorf("at %v with ends %v, declared %v: quiet %v, ends at %v, want %v, %v", step.wall, step.ends, step.declared, got, ended, step.want, step.wantEnded)
		}
	}
	// The tick carries it as milliseconds; read back, it is still longer
	// than any idle timeout.
	if q := time.Duration(inputEnded.Milliseconds()) * time.Millisecond; q < 100*365*24*time.Hour {
		t.Errorf("a declared end reads back as quiet for %v", q)
	}
}

// TestTicksCarryQuiet runs the ticker against the embedded broker: a
// partition the group has consumed and nobody writes to is reported caught
// up with its quiet growing; one written after the ticker started reports
// lag, and never more quiet than the time since that write.
func TestTicksCarryQuiet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the ticker against the embedded broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, cl, adm := tickerBroker(t, ctx)
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "in", Partition: 0, At: 1})
	offs.Add(kadm.Offset{Topic: "in", Partition: 1, At: 1})
	if _, err := adm.CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}

	tk := &ticker{cl: cl, adm: adm, lagGroup: "g", lagTopic: "in", loop: "loop", ctrl: []string{"c0", "c1"},
		interval: 50 * time.Millisecond, log: slog.New(slog.DiscardHandler)}
	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	go tk.run(tctx)

	next := tickReader(t, ctx, addr, "loop")
	for {
		tick := next(0)
		if !tick.LagKnown {
			continue // the lag query timed out (a loaded machine)
		}
		if !tick.CaughtUp {
			t.Fatalf("partition 0, consumed and silent: %+v", tick)
		}
		if tick.QuietMs >= 300 {
			break
		}
	}

	// The write lands between before and after: a tick measured after it
	// sees it, and may claim no more quiet than since before.
	before := time.Now().UnixMilli()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Partition: 1, Value: []byte("r")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMilli()
	for seen := 0; seen < 5; {
		tick := next(1)
		if tick.Wall <= after || !tick.LagKnown {
			continue // measured before the write landed, or the lag query timed out
		}
		seen++
		if tick.CaughtUp || !slices.Contains(tick.Lagging, 1) {
			t.Errorf("partition 1, written and not consumed: %+v", tick)
		}
		if since := tick.Wall - before; tick.QuietMs > since {
			t.Errorf("partition 1 quiet for %d ms, but written at most %d ms before the tick", tick.QuietMs, since)
		}
	}
}

// tickReader reads the ticks on topic: each call returns the next one on
// partition p (skipping the other partitions' ticks).
func tickReader(t *testing.T, ctx context.Context, addr, topic string) func(p int32) wire.Tick {
	t.Helper()
	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rd.Close)
	var queued []*kgo.Record
	return func(p int32) wire.Tick {
		t.Helper()
		for {
			for len(queued) > 0 {
				r := queued[0]
				queued = queued[1:]
				if r.Partition != p {
					continue
				}
				v, err := wire.LoopCodec{}.Decode(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				return v.(wire.Tick)
			}
			fs := rd.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("waiting for a tick on partition %d: %v", p, err)
			}
			queued = fs.Records()
		}
	}
}

// TestCaughtUp: a partition is caught up when its group committed up to
// its end, or when the member's idle mark at a declared end went out and
// the log still ends there, with no commit needed.
func TestCaughtUp(t *testing.T) {
	lag := func(commit, end int64) kadm.GroupMemberLag {
		return kadm.GroupMemberLag{Commit: kadm.Offset{At: commit}, End: kadm.ListedOffset{Offset: end}, Lag: end - max(commit, 0)}
	}
	endErr := lag(3, 10)
	endErr.End.Err = errors.New("not listed")
	commitErr := lag(-1, 10)
	commitErr.Err = errors.New("no commits")
	for _, tc := range []struct {
		name    string
		lag     kadm.GroupMemberLag
		sentEnd int64
		want    bool
	}{
		{"committed to the end", lag(10, 10), 0, true},
		{"committed behind the end", lag(7, 10), 0, false},
		{"never committed", lag(-1, 10), 0, false},
		{"idle mark sent at the end, commit behind", lag(7, 10), 10, true},
		{"idle mark sent at the end, never committed", lag(-1, 10), 10, true},
		{"written since the idle mark", lag(7, 11), 10, false},
		{"end not listed", endErr, 10, false},
		{"commits not fetched, idle mark sent at the end", commitErr, 10, true},
		{"commits not fetched", commitErr, 0, false},
	} {
		if got := caughtUp(tc.lag, tc.sentEnd); got != tc.want {
			t.Errorf("%s: caught up %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPokedTick runs the ticker against the embedded broker with an
// interval that never comes: a poke makes it measure and send a tick at
// once, which counts a partition whose idle mark went out at its end
// caught up although its group never committed, and the other partition
// lagging.
func TestPokedTick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the ticker against the embedded broker")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr, cl, adm := tickerBroker(t, ctx)
	var pokes tickPokes
	tk := &ticker{cl: cl, adm: adm, lagGroup: "g", lagTopic: "in", loop: "loop", ctrl: []string{"c0", "c1"},
		interval: time.Hour, log: slog.New(slog.DiscardHandler), poke: pokes.add(),
		sentEnds: func(p int32) int64 { return map[int32]int64{0: 1}[p] }}
	tctx, tcancel := context.WithCancel(ctx)
	defer tcancel()
	go tk.run(tctx)
	next := tickReader(t, ctx, addr, "loop")
	pokes.poke()
	tick := next(0)
	if !tick.LagKnown || !tick.CaughtUp || !slices.Equal(tick.Lagging, []int32{1}) {
		t.Errorf("partition 0's tick after a poke: %+v, want the lag known, partition 0 caught up and 1 lagging", tick)
	}
	if tick := next(1); tick.CaughtUp {
		t.Errorf("partition 1's tick: %+v, want it not caught up", tick)
	}
}

// tickerBroker starts the embedded broker with topics "in" and "loop" of
// two partitions each, one record on each partition of "in", and returns
// its address and a client (with kadm's) that produces to the partition
// a record names.
func tickerBroker(t *testing.T, ctx context.Context) (string, *kgo.Client, *kadm.Client) {
	t.Helper()
	b := testenv.Broker(t, "")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"in", "loop"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	for p := range int32(2) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "in", Partition: p, Value: []byte("r")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Addr(), cl, adm
}
