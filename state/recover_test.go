package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// cutReader reads the changelog for Open and stops after a number of
// records per partition as if its time limit had passed.
type cutReader struct {
	*state.KafkaChangelog
	after int
}

func (c cutReader) ReadChangelog(ctx context.Context, topic string, partition int32, from, to int64,
	apply func(key, value []byte, offset int64) error) error {
	n := 0
	return c.KafkaChangelog.ReadChangelog(ctx, topic, partition, from, to, func(k, v []byte, off int64) error {
		if n == c.after {
			return context.DeadlineExceeded
		}
		n++
		return apply(k, v, off)
	})
}

// TestRecoverOnOpen: a store reads its changelog itself when it opens
// and goka recovers whatever it left, so the rebuilt table is the
// changelog's whether Open read all of it, part of it (stopped by its
// time limit), none of it, or a changelog whose first records retention
// removed. Every record is applied once, by one of the two.
func TestRecoverOnOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs goka against the embedded broker")
	}
	log := testLogger(t)
	b := testenv.Broker(t, "")
	a := newCounterApp(t, b.Addr())
	produce(t, a.addr, string(a.input), 0, 3000, 100)
	r := a.start(t, log)
	a.waitConsumed(t)
	r.stop(t)

	cut := func(n int) func(*state.KafkaChangelog) state.ChangelogInfo {
		return func(k *state.KafkaChangelog) state.ChangelogInfo { return cutReader{k, n} }
	}
	for _, tc := range []struct {
		name      string
		changelog func(*state.KafkaChangelog) state.ChangelogInfo
		limit     time.Duration
		deleteTo  int64 // records of partition 0 retention removed first
		onOpen    func(records int64) int64
	}{
		{name: "all of it on open", onOpen: func(n int64) int64 { return n }},
		{name: "none: left to goka", limit: -1, onOpen: func(int64) int64 { return 0 }},
		{name: "stopped after 500 records per partition", changelog: cut(500),
			onOpen: func(int64) int64 { return 500 * gokaPartitions }},
		{name: "stopped before the first", changelog: cut(0), onOpen: func(int64) int64 { return 0 }},
		{name: "its first records deleted", deleteTo: 100, onOpen: func(n int64) int64 { return n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.deleteTo > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var offs kadm.Offsets
				offs.AddOffset(a.table(), 0, tc.deleteTo, -1)
				res, err := newAdmin(t, a.addr).DeleteRecords(ctx, offs)
				if err == nil {
					err = res.Error()
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			want, records := a.changelog(t)
			if err := removeAll(a.dir); err != nil {
				t.Fatal(err)
			}
			a := a
			a.wrapChangelog, a.recoverOnOpen = tc.changelog, tc.limit
			r := a.start(t, log)
			var onOpen int64
			for _, s := range r.stores.Stats() {
				onOpen += s.RecoveredOnOpen
			}
			if w := recoveryWrites(r.stores.Stats()); w != records || onOpen != tc.onOpen(records) {
				t.Errorf("%d of the changelog's %d records applied, %d of them on open; want every one once, %d on open",
					w, records, onOpen, tc.onOpen(records))
			}
			r.stop(t)
			sameTable(t, tc.name, a.contents(t, gokaPartitions), want)
		})
	}
}
