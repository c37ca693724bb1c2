package devstack_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/devstack"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestRestartPublishesNewWindows is "the second make run shows nothing
// new": the demo's settings (a reading a minute, 1 h retention, the
// producer resuming as turnstile dev sets it) at 600x event time, a first
// run long enough for its event time to pass the retention, Ctrl-C, and a
// second run on the same data directory. Within 20 s of the second
// start, station windows later than anything the first run published
// reach the sink. (Before, the second producer started a week back again,
// behind the stored watermark: every reading was too late, and no window
// came for as long as the first run had lasted.)
func TestRestartPublishesNewWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo twice")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir, lakeDir := t.TempDir(), t.TempDir()
	cfg := devstack.Config{
		DataDir:  dir,
		Registry: registry.Config{Addr: "127.0.0.1:0"},
		Pipeline: processors.Config{Partitions: 2, Retention: time.Hour, IdleTimeout: 30 * time.Second},
		Members:  1,
		NoLake:   true,
		LakeDir:  lakeDir,
		Producer: producer.Config{Speed: 600, Resume: true,
			Synthetic: producer.SyntheticConfig{Interval: time.Minute, MaxBooths: 10}},
		Quiet:  true,
		Logger: testenv.Logger(t),
	}
	cfg.Broker.Addr = "127.0.0.1:0"

	// The first run: until its windows span more than the retention and
	// 45 s have passed. A producer that started a week back again (the
	// defect) would be behind the stored watermark by about the first
	// run's event time, and take about the first run's wall time to catch
	// up, whatever the speed: more than the 20 s the second run gets.
	first := time.Now()
	s, stop := startStack(t, ctx, cfg)
	stationCodec, err := codecs.NewStationWindowCodec(codecs.Config{RegistryURL: s.RegistryURL(),
		Subject: schemas.Subject(processors.DefaultTopics().StationWindows)})
	if err != nil {
		t.Fatal(err)
	}
	var firstStart, lastEnd time.Time
	if !watchSink(t, ctx, s.BrokerAddr(), stationCodec, func(w schemas.StationWindow) bool {
		if firstStart.IsZero() || w.Start.Before(firstStart) {
			firstStart = w.Start
		}
		if w.End.After(lastEnd) {
			lastEnd = w.End
		}
		return lastEnd.Sub(firstStart) > cfg.Pipeline.Retention+10*time.Minute && time.Since(first) > 45*time.Second
	}) {
		t.Fatalf("first run: station windows from %v to %v only", firstStart, lastEnd)
	}
	stop() // Ctrl-C
	// What the first run published up to its end (it went on while it
	// stopped), read from its data directory alone.
	lastEnd = lastStationEnd(t, ctx, dir, stationCodec)
	t.Logf("first run: station windows from %v to %v in %v", firstStart, lastEnd, time.Since(first).Round(time.Second))

	// The second run, on the same data directory.
	second := time.Now()
	s2, stop2 := startStack(t, ctx, cfg)
	defer stop2()
	var newer schemas.StationWindow
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if !watchSink(t, wctx, s2.BrokerAddr(), stationCodec, func(w schemas.StationWindow) bool {
		if !w.Start.Before(lastEnd) {
			newer = w
			return true
		}
		return false
	}) {
		t.Fatalf("no station window after %v within 20 s of the second start", lastEnd)
	}
	t.Logf("second run: a station window %v..%v (%s, %d in, %d out) %v after its start",
		newer.Start, newer.End, newer.Station, newer.Entries, newer.Exits, time.Since(second).Round(time.Second))
}

// startStack starts a stack and returns it with its Ctrl-C: cancel its
// context and wait for it to stop.
func startStack(t *testing.T, ctx context.Context, cfg devstack.Config) (*devstack.Stack, func()) {
	t.Helper()
	rctx, cancel := context.WithCancel(ctx)
	s, err := devstack.Start(rctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait() }()
	stopped := false
	return s, func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-waited:
			if err != nil {
				t.Errorf("Wait: %v", err)
			}
		case <-time.After(2 * time.Minute):
			t.Fatal("the stack did not stop")
		}
	}
}

// watchSink reads the station windows topic from the start until done
// says so (true) or ctx ends (false).
func watchSink(t *testing.T, ctx context.Context, broker string, codec *codecs.StationWindowCodec, done func(schemas.StationWindow) bool) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(processors.DefaultTopics().StationWindows),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return false
		}
		finished := false
		fs.EachRecord(func(r *kgo.Record) {
			if finished {
				return
			}
			w, err := codec.Unmarshal(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			finished = done(w)
		})
		if finished {
			return true
		}
	}
}

// lastStationEnd is the latest END on the station windows topic of the
// stopped stack whose data directory is dir.
func lastStationEnd(t *testing.T, ctx context.Context, dir string, codec *codecs.StationWindowCodec) time.Time {
	t.Helper()
	b, err := broker.Start(ctx, broker.Config{Addr: "127.0.0.1:0", DataDir: broker.DataDirFor(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var last time.Time
	testenv.ReadAll(t, ctx, []string{b.Addr()}, processors.DefaultTopics().StationWindows, func(r *kgo.Record) {
		w, err := codec.Unmarshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if w.End.After(last) {
			last = w.End
		}
	})
	return last
}
