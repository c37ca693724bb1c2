package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestDeviceTally checks the two-pass digest of the device windows topic:
// the latest revision of each window counts, once, and every record with
// REVISION > 1 is a correction.
func TestDeviceTally(t *testing.T) {
	start := time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	win := func(scp string, k int, entries int64, rev int32) (string, schemas.DeviceWindow) {
		w := schemas.DeviceWindow{CA: "A002", Unit: "R051", SCP: scp, Start: start.Add(time.Duration(k) * 5 * time.Minute),
			Entries: entries, Exits: entries / 2, Revision: rev}
		return schemas.DeviceWindowKey(w.DeviceKey(), w.Start), w
	}
	type rec struct {
		key string
		w   schemas.DeviceWindow
	}
	mk := func(scp string, k int, entries int64, rev int32) rec {
		key, w := win(scp, k, entries, rev)
		return rec{key, w}
	}
	digest := func(rs ...rec) Digest {
		var d Digest
		for _, r := range rs {
			d.Add(r.w.DeviceKey(), r.w.Start.UnixMilli(), r.w.Entries, r.w.Exits, 0)
		}
		return d
	}
	tally := func(topic []rec) (Digest, int64, bool) {
		var tl deviceTally
		for _, r := range topic {
			if err := tl.first(r.key, r.w); err != nil {
				t.Fatal(err)
			}
		}
		second := tl.needSecond()
		if second {
			for _, r := range topic {
				tl.second(r.key, r.w)
			}
		}
		d, n := tl.finish()
		return d, n, second
	}

	a, b, c := mk("01", 0, 10, 1), mk("01", 1, 20, 1), mk("02", 0, 30, 1)
	if d, n, second := tally([]rec{a, b, c}); d != digest(a, b, c) || n != 0 || second {
		t.Fatalf("no corrections: digest %v (want %v), %d corrections, second pass %v", d, digest(a, b, c), n, second)
	}

	b2, b3, c2 := mk("01", 1, 25, 2), mk("01", 1, 27, 3), mk("02", 0, 31, 2)
	d, n, second := tally([]rec{a, b, c, b2, c2, b3})
	if want := digest(a, b3, c2); d != want || n != 3 || !second {
		t.Fatalf("corrections: digest %v (want %v), %d corrections (want 3), second pass %v", d, want, n, second)
	}

	var tl deviceTally
	if key, w := win("01", 0, 1, 0); tl.first(key, w) == nil {
		t.Fatal("revision 0 accepted")
	}
}

// TestWaitSinksGivesUpOnSilence: windows that never come end the wait once
// neither sink topic has grown for the stall time, long before the
// context's deadline, naming the cause.
func TestWaitSinksGivesUpOnSilence(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topics := processors.DefaultTopics()
	e := sinkEnv(t, ctx, topics.DeviceWindows, topics.StationWindows)
	f, err := followStations(ctx, e, topics.StationWindows)
	if err != nil {
		t.Fatal(err)
	}
	var want expected
	want.devices.Add("A002|R051|02-00-00", 0, 1, 1, 0)
	began := time.Now()
	_, err = waitSinksStall(ctx, e, f, topics, want, 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no new window on the sink topics for 500ms") || time.Since(began) > 10*time.Second {
		t.Fatalf("after %v: %v", time.Since(began), err)
	}
}

// TestStationFollower: the follower's digest is of each station window's
// latest revision, whatever order revisions arrive in, and a record with a
// higher revision than the one seen before for its window is a correction.
func TestStationFollower(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := processors.DefaultTopics().StationWindows
	e := sinkEnv(t, ctx, topic)
	codec, err := codecs.NewStationWindowCodec(codecs.Config{Client: e.sr, Subject: schemas.Subject(topic)})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC)
	win := func(station string, k int, entries int64, devices, rev int32) schemas.StationWindow {
		s := start.Add(time.Duration(k) * 5 * time.Minute)
		return schemas.StationWindow{Station: station, LineName: "NQR", Division: "BMT", Start: s, End: s.Add(5 * time.Minute),
			Entries: entries, Exits: entries / 2, Devices: devices, Revision: rev, Generation: 0, EmittedAt: start}
	}
	a, b, c := win("59 ST", 0, 10, 2, 1), win("59 ST", 1, 20, 2, 1), win("CANAL ST", 0, 30, 4, 1)
	b2, b3 := win("59 ST", 1, 25, 3, 2), win("59 ST", 1, 27, 3, 3)
	f, err := followStations(ctx, e, topic)
	if err != nil {
		t.Fatal(err)
	}
	// b's third revision comes before its second, and its first again
	// after both: only b3 counts, and b2 and the repeated first are not
	// corrections (not above what was seen).
	var recs []*kgo.Record
	for _, w := range []schemas.StationWindow{a, b, c, b3, b2, b} {
		v, err := codec.Marshal(&w)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(schemas.StationWindowKey(w.StationKey(), w.Start)), Value: v})
	}
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var want Digest
	for _, w := range []schemas.StationWindow{a, b3, c} {
		want.Add(w.StationKey(), w.Start.UnixMilli(), w.Entries, w.Exits, int64(w.Devices))
	}
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if _, err := f.wait(wctx, want); err != nil {
		t.Fatal(err)
	}
	if d, n := f.result(); d != want || n != 1 {
		t.Fatalf("digest %v (want %v), %d corrections (want 1)", d, want, n)
	}
}

// sinkEnv starts an embedded broker and registry for the test, with each
// of topics created with two partitions.
func sinkEnv(t *testing.T, ctx context.Context, topics ...string) *env {
	t.Helper()
	e, err := startEnv(ctx, t.TempDir(), testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	for _, tp := range topics {
		if err := e.createTopic(ctx, tp, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	return e
}
