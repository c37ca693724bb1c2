package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/state"
)

// Restore is the table rebuild from its changelog and the restart times.
type Restore struct {
	Table string `json:"table"`
	// Records and Bytes (keys + values) written into the empty store.
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// OnOpen of them were read by the stores themselves as they opened
	// (state.Options.RecoverOnOpen), the rest by goka's recovery.
	OnOpen      int64   `json:"on_open"`
	Seconds     float64 `json:"seconds"`
	RecordsPerS float64 `json:"records_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
	// WarmS is from starting a member on its own local state (after a
	// clean stop) to its windowed stage applying the first new reading.
	WarmS float64 `json:"warm_s"`
	// ColdS is the same with empty local state: goka rebuilds the windows
	// table from its changelog first.
	ColdS float64 `json:"cold_s"`
}

// rebuild recovers the windows table's changelog into empty Pebble stores
// (the pipeline's storage with the changelog attached, as a member opens
// it, through a goka view: the code path goka uses to restore a table) and
// times it.
func rebuild(ctx context.Context, e *env, cfg *Config, dir string) (Restore, error) {
	devices, _ := processors.Config{}.Topology().Stage(processors.StageWindows)
	table := devices.Table
	r := Restore{Table: table}
	changelog, err := state.NewKafkaChangelog(e.kafkaOpts()...)
	if err != nil {
		return r, err
	}
	defer changelog.Close()
	stores, err := state.New(state.Options{Dir: dir, Changelog: changelog, RecoverOnOpen: cfg.RecoverOnOpen})
	if err != nil {
		return r, err
	}
	sc := goka.DefaultConfig()
	sc.Version = sarama.V2_1_0_0
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication, tm.Stream.Replication = 1, 1
	view, err := goka.NewView(e.brokers(), goka.Table(table), new(codec.Bytes),
		goka.WithViewStorageBuilder(stores.Build),
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(sc, tm)),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(sc)),
		goka.WithViewLogger(gokaDiscard{}))
	if err != nil {
		return r, fmt.Errorf("bench: restore: %w", err)
	}
	vctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	begin := time.Now()
	go func() { done <- view.Run(vctx) }()
	wctx, wcancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer wcancel()
	for !view.Recovered() {
		select {
		case err := <-done:
			cancel()
			return r, fmt.Errorf("bench: restore: view stopped: %v", err)
		case <-wctx.Done():
			cancel()
			<-done
			return r, fmt.Errorf("bench: restore: %w", wctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	r.Seconds = time.Since(begin).Seconds()
	for _, st := range stores.Stats() {
		r.Records += st.RecoveryWrites
		r.Bytes += st.RecoveryBytes
		r.OnOpen += st.RecoveredOnOpen
	}
	cancel()
	if err := <-done; err != nil {
		return r, fmt.Errorf("bench: restore: %w", err)
	}
	r.RecordsPerS = float64(r.Records) / r.Seconds
	r.MBPerS = float64(r.Bytes) / 1e6 / r.Seconds
	return r, nil
}

// restart produces a few new readings, starts one member on stateDir and
// times it to its windowed stage applying the first of them.
func restart(ctx context.Context, e *env, cfg *Config, stateDir string, from time.Time) (float64, error) {
	input := processors.DefaultTopics().Input
	codec, err := e.readingCodec(input)
	if err != nil {
		return 0, err
	}
	st, err := newStream(cfg, codec, from)
	if err != nil {
		return 0, err
	}
	for i := int64(0); i < cfg.RestartReadings; i++ {
		rec, err := st.Next()
		if err != nil {
			return 0, fmt.Errorf("bench: synthetic stream: %w", err)
		}
		e.cl.Produce(ctx, &kgo.Record{Topic: input, Key: rec.Key, Value: rec.Value}, nil)
	}
	if err := e.cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("bench: restart: %w", err)
	}
	begin := time.Now()
	m, err := startMembers(ctx, e, cfg, stateDir, 1)
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.PhaseTimeout)
	defer cancel()
	at, err := m.waitIn(wctx, processors.StageWindows, 1, 2*time.Millisecond)
	if serr := m.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	return at.Sub(begin).Seconds(), nil
}

// runRestore rebuilds the windows table of the (stopped) ours run from its
// changelog, then restarts a member warm (its state) and cold (empty
// state).
func runRestore(ctx context.Context, e *env, cfg *Config, stateDir string, end time.Time, say func(string, ...any)) (Restore, error) {
	r, err := rebuild(ctx, e, cfg, filepath.Join(cfg.Dir, "rebuild"))
	if err != nil {
		return r, err
	}
	say("restore: %d changelog records (%.1f MB; %d read by the stores as they opened) into empty Pebble stores in %.2fs: %.0f records/s, %.1f MB/s",
		r.Records, float64(r.Bytes)/1e6, r.OnOpen, r.Seconds, r.RecordsPerS, r.MBPerS)
	// The pipeline ran as one member: its state is member-0.
	if r.WarmS, err = restart(ctx, e, cfg, stateDir, end.Add(24*time.Hour)); err != nil {
		return r, err
	}
	say("restore: warm restart resumed processing after %.2fs", r.WarmS)
	stop, err := startCPUProfile(cfg.RestartProfile)
	if err != nil {
		return r, err
	}
	r.ColdS, err = restart(ctx, e, cfg, filepath.Join(cfg.Dir, "cold"), end.Add(48*time.Hour))
	stop()
	if err != nil {
		return r, err
	}
	say("restore: cold restart (the table rebuilt from its changelog) resumed processing after %.2fs", r.ColdS)
	return r, nil
}
