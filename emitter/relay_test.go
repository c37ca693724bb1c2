package emitter_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/emitter"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// translate publishes "out-<key>-<i>" for i < n, where the value is "n".
// Value "poison" can never be published; the first attempts at "flaky"
// ask for a retry.
func translate(flaky *atomic.Int32) emitter.Translate {
	return func(rec *kgo.Record) ([]*kgo.Record, error) {
		switch v := string(rec.Value); v {
		case "poison":
			return nil, errors.New("cannot decode")
		case "flaky":
			if flaky.Add(1) < 3 {
				return nil, fmt.Errorf("registry down: %w", emitter.ErrRetry)
			}
			return []*kgo.Record{{Topic: "out", Key: rec.Key, Value: []byte("flaky-ok")}}, nil
		default:
			n, _ := strconv.Atoi(v)
			var outs []*kgo.Record
			for i := 0; i < n; i++ {
				outs = append(outs, &kgo.Record{Topic: "out", Key: rec.Key, Value: []byte(fmt.Sprintf("out-%s-%d", rec.Key, i))})
			}
			return outs, nil
		}
	}
}

func TestRelayPublishesEveryOutboxOnce(t *testing.T) {
	b := testenv.Broker(t, "")
	testenv.CreateTopic(t, b.Addr(), "changelog", 3, nil)
	testenv.CreateTopic(t, b.Addr(), "out", 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	produce := func(key, val string) {
		t.Helper()
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "changelog", Key: []byte(key), Value: []byte(val)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("k%d", i)
		produce(k, strconv.Itoa(i%3))
		for j := 0; j < i%3; j++ {
			want[fmt.Sprintf("out-%s-%d", k, j)] = true
		}
	}
	produce("p", "poison")
	produce("f", "flaky")
	want["flaky-ok"] = true

	var flaky atomic.Int32
	// Recycle comes only once every record Translate returned since the
	// last one was acknowledged: a translator may reuse their bytes then.
	var (
		mu                 sync.Mutex
		pending            = map[*kgo.Record]bool{} // returned, not recycled; true once acknowledged
		recycled, reusable int
	)
	tr := translate(&flaky)
	counted := func(rec *kgo.Record) ([]*kgo.Record, error) {
		outs, err := tr(rec)
		mu.Lock()
		defer mu.Unlock()
		for _, o := range outs {
			pending[o] = false
		}
		return outs, err
	}
	acked := func(o *kgo.Record) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := pending[o]; ok {
			pending[o] = true
		}
	}
	recycle := func() {
		mu.Lock()
		defer mu.Unlock()
		recycled++
		for o, ok := range pending {
			if !ok {
				t.Errorf("recycled before %q was acknowledged", o.Value)
			}
			reusable++
		}
		clear(pending)
	}
	run := func(d time.Duration) *emitter.Relay {
		r, err := emitter.New(emitter.Config{KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())}, Group: "relay",
			Changelog: "changelog", Translate: counted, OnPublished: acked, Recycle: recycle, Logger: testenv.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, d)
		defer rcancel()
		if err := r.Run(rctx); err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := run(8 * time.Second)
	if s := first.Stats(); s.Skipped != 1 || s.Read != 52 {
		t.Fatalf("first run stats %+v", s)
	}
	// More records after a restart: only they are relayed.
	produce("late", "2")
	want["out-late-0"], want["out-late-1"] = true, true
	second := run(8 * time.Second)
	if s := second.Stats(); s.Read != 1 || s.Published != 2 {
		t.Fatalf("second run read %+v; committed offsets were not honoured", s)
	}
	mu.Lock()
	if recycled == 0 || reusable != len(want) {
		t.Errorf("%d recycles freed %d outputs, want all %d", recycled, reusable, len(want))
	}
	mu.Unlock()

	cons, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]int{}
	total := 0
	for total < len(want) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("got %d of %d outputs", total, len(want))
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; total++ })
	}
	for k := range want {
		if got[k] != 1 {
			t.Errorf("%s published %d times", k, got[k])
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("unexpected output %s", k)
		}
	}
}
