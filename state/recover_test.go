package state_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/state"
)

// cutReader reads the changelog for Open and stops after a number of
// records per partition with err: context.DeadlineExceeded as if Open's
// time limit had passed, or a failed read.
type cutReader struct {
	*state.KafkaChangelog
	after int
	err   error
}

func (c cutReader) ReadChangelog(ctx context.Context, topic string, partition int32, from, to int64,
	apply func(key, value []byte, offset int64) error) error {
	n := 0
	return c.KafkaChangelog.ReadChangelog(ctx, topic, partition, from, to, func(k, v []byte, off int64) error {
		if n == c.after {
			return c.err
		}
		n++
		return apply(k, v, off)
	})
}

// What TestRecoverOnOpen expects Open to have applied, besides a count.
const (
	everyRecord = -1 // the whole changelog
	unchecked   = -2 // whatever it managed (a real time limit)
)

// TestRecoverOnOpen: a store reads its changelog itself when it opens
// and goka recovers whatever it left, so the rebuilt table is the
// changelog's whether Open read all of it, part of it (stopped by its
// time limit, or by a failed read), none of it, or a changelog whose
// first records retention removed. Every record is applied once, by one
// of the two.
func TestRecoverOnOpen(t *testing.T) {
	a, log := countedApp(t)

	cut := func(n int, err error) func(*state.KafkaChangelog) state.ChangelogInfo {
		return func(k *state.KafkaChangelog) state.ChangelogInfo { return cutReader{k, n, err} }
	}
	for _, tc := range []struct {
		name      string
		changelog func(*state.KafkaChangelog) state.ChangelogInfo
		limit     time.Duration
		deleteTo  int64 // records of partition 0 retention removed first
		onOpen    int64 // records Open applied, or everyRecord, or unchecked
	}{
		{name: "all of it on open", onOpen: everyRecord},
		{name: "none: left to goka", limit: -1, onOpen: 0},
		{name: "stopped after 500 records per partition", changelog: cut(500, context.DeadlineExceeded),
			onOpen: 500 * gokaPartitions},
		{name: "stopped before the first", changelog: cut(0, context.DeadlineExceeded), onOpen: 0},
		{name: "a read failing after 500 records per partition", changelog: cut(500, errors.New("broker gone")),
			onOpen: 500 * gokaPartitions},
		{name: "a time limit that has passed at once", limit: time.Nanosecond, onOpen: unchecked},
		{name: "its first records deleted", deleteTo: 100, onOpen: everyRecord},
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
			wantOnOpen := tc.onOpen
			switch wantOnOpen {
			case everyRecord:
				wantOnOpen = records
			case unchecked:
				wantOnOpen = onOpen
			}
			if w := recoveryWrites(r.stores.Stats()); w != records || onOpen != wantOnOpen {
				t.Errorf("%d of the changelog's %d records applied, %d of them on open; want every one once, %d on open",
					w, records, onOpen, wantOnOpen)
			}
			r.stop(t)
			sameTable(t, tc.name, a.contents(t, gokaPartitions), want)
		})
	}
}

// pausingLog is a changelog of n records ("k<i>" = "v<i>") that Open can
// read: it applies the first half, says so on paused, and waits for
// proceed before applying the rest.
type pausingLog struct {
	fakeChangelog
	n       int64
	paused  chan struct{}
	proceed chan struct{}
}

func (p *pausingLog) SealTail(context.Context, string, int32, int64) (bool, error) { return false, nil }

func (p *pausingLog) ReadChangelog(ctx context.Context, _ string, _ int32, from, to int64,
	apply func(key, value []byte, offset int64) error) error {
	for off := from; off < to; off++ {
		if off == p.n/2 {
			close(p.paused)
			select {
			case <-p.proceed:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := apply(fmt.Appendf(nil, "k%d", off), fmt.Appendf(nil, "v%d", off), off); err != nil {
			return err
		}
	}
	return nil
}

// TestStatsWhileOpenRecovers: Open reads the changelog with the store
// shared, so its stats (the metrics, /readyz) are answered while it
// recovers, and the store holds the whole changelog when Open returns.
func TestStatsWhileOpenRecovers(t *testing.T) {
	log := &pausingLog{n: 10, paused: make(chan struct{}), proceed: make(chan struct{})}
	log.set(state.ChangelogState{ClusterID: "c", TopicID: "t", EndOffset: log.n}, nil)
	stores, err := state.New(state.Options{Dir: t.TempDir(), Changelog: log, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := stores.Store("tbl", 0)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() { opened <- st.Open() }()
	select {
	case <-log.paused:
	case err := <-opened:
		t.Fatalf("Open returned before reading the changelog: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Open did not read the changelog")
	}
	stats := make(chan []state.PartitionStats, 1)
	go func() { stats <- stores.Stats() }()
	select {
	case s := <-stats:
		if len(s) != 1 || s[0].RecoveredOnOpen != log.n/2 || s[0].Recovered {
			t.Errorf("stats while Open recovers: %+v; want %d records read on open, not recovered", s, log.n/2)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stats waited for Open's recovery")
	}
	close(log.proceed)
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if off, err := st.GetOffset(-1); err != nil || off != log.n-1 {
		t.Fatalf("offset %d (%v), want %d", off, err, log.n-1)
	}
	for i := range log.n {
		if v, err := st.Get(fmt.Sprintf("k%d", i)); err != nil || string(v) != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d = %q (%v)", i, v, err)
		}
	}
}
