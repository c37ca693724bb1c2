package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/emitter"
	"github.com/turnstile-streams/turnstile/internal/gokalog"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/windows"
)

// Pipeline is one member of the processing stages: the goka processors it
// runs, the relays that publish their tables' outboxes, and the tickers.
type Pipeline struct {
	cfg     Config
	sem     *windows.Rules
	topo    Topology
	metrics *Metrics
	q       *queryState // what queries, readiness and the HTTP server see
}

// New validates cfg. metrics may be shared with an HTTP server.
func New(cfg Config, metrics *Metrics) (*Pipeline, error) {
	cfg.Defaults()
	sem, err := cfg.rules()
	if err != nil {
		return nil, err
	}
	if cfg.Registry == nil {
		return nil, errors.New("processors: a schema registry client is required")
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("processors: no brokers")
	}
	if cfg.State.Dir == "" {
		return nil, errors.New("processors: a state directory is required")
	}
	topo := cfg.Topology()
	for _, name := range cfg.Run {
		if !slices.Contains(AllStageNames(), name) {
			return nil, fmt.Errorf("processors: unknown stage %q in Config.Run (want %s)", name, strings.Join(AllStageNames(), ", "))
		}
	}
	if metrics == nil {
		if metrics, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	return &Pipeline{cfg: cfg, sem: sem, topo: topo, metrics: metrics, q: newQueryState()}, nil
}

func (p *Pipeline) saramaConfig() (*sarama.Config, error) {
	sc := goka.DefaultConfig()
	sc.Version = sarama.V2_1_0_0
	// New groups start at the oldest offset: a pipeline must not skip data
	// that was produced before it first started.
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// The changelog's order is the table's truth: acknowledge from all
	// replicas and never reorder on retry.
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Compression = sarama.CompressionNone
	// Bounded consumer buffers: a member consumes ~30 partitions (inputs,
	// loops, and the changelogs while recovering), each with sarama's
	// message channels and fetch buffer (defaults 256 messages, 1 MiB).
	sc.ChannelBufferSize = 64
	sc.Consumer.Fetch.Default = 256 << 10
	sc.Consumer.Group.Session.Timeout = p.cfg.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = heartbeat(p.cfg.SessionTimeout)
	// A rebalance waits this long for members to rejoin; a member that died
	// mid-rebalance would otherwise hold the group for a minute.
	sc.Consumer.Group.Rebalance.Timeout = rebalanceTimeout(p.cfg.SessionTimeout)
	// Other members find this member's HTTP address in the group metadata.
	sc.Consumer.Group.Member.UserData = p.q.memberData()
	if p.cfg.Sarama != nil {
		if err := p.cfg.Sarama(sc); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// Run sets this member up, then runs its stages until ctx ends. Setting up
// creates the missing topics, loads the replay generation, opens the
// state stores and builds the codecs and clients; if any of that fails, Run
// returns the error at once (stopping the stages it had started). Once
// running, a failing stage is restarted with backoff and never ends Run:
// then Run returns nil when ctx is done, after every stage has stopped.
func (p *Pipeline) Run(ctx context.Context) error {
	cfg := p.cfg
	log := cfg.Logger
	admCl, err := kgo.NewClient(cfg.KafkaOpts...)
	if err != nil {
		return fmt.Errorf("processors: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	p.q.setAdmin(adm)
	defer p.q.setAdmin(nil)
	// The layout follows the input topic's partition count (Topology).
	if cfg, err = ResolveLayout(ctx, adm, cfg); err != nil {
		return err
	}
	p.cfg, p.topo = cfg, cfg.Topology()
	topo := p.topo
	var runs []string
	for _, st := range topo.Stages {
		if cfg.runs(st.Name) {
			runs = append(runs, st.Name)
		}
	}
	if len(runs) == 0 {
		return fmt.Errorf("processors: none of the stages %v runs in this pipeline: the input topic %s has the pipeline's %d partitions, "+
			"so the windowed stage reads it itself and there is no ingest stage (run %s)", cfg.Run, cfg.Topics.Input, cfg.Partitions, StageWindows)
	}
	created, partitions, err := EnsureTopics(ctx, adm, topo.Topics, int16(cfg.Replication))
	if err != nil {
		return err
	}
	if len(created) > 0 {
		log.Info("created topics", "topics", created, "partitions", cfg.Partitions)
	}
	if cfg.Direct() {
		log.Info("the windowed stage reads the input itself; readings not on their partition are re-keyed",
			"input", cfg.Topics.Input, "partitions", cfg.Partitions)
	} else {
		log.Info("the input has another partition count than the pipeline: an ingest stage re-keys every reading",
			"input", cfg.Topics.Input, "input_partitions", cfg.InputPartitions, "partitions", cfg.Partitions)
	}
	if cfg.runs(StageWindows) {
		// Refuse the two-stage pipeline's state rather than mix layouts.
		st, _ := topo.Stage(StageWindows)
		if err := retryUnknownTopic(ctx, func() error { return checkLayout(ctx, admCl, st) }); err != nil {
			return err
		}
	}
	if err := p.loadGeneration(ctx, admCl); err != nil {
		return err
	}
	cfg = p.cfg
	sc, err := p.saramaConfig()
	if err != nil {
		return err
	}
	changelog, err := state.NewKafkaChangelog(cfg.KafkaOpts...)
	if err != nil {
		return fmt.Errorf("processors: %w", err)
	}
	defer changelog.Close()
	stOpts := cfg.State
	stOpts.Changelog = changelog
	if stOpts.Logger == nil {
		stOpts.Logger = log
	}
	stores, err := state.New(stOpts)
	if err != nil {
		return fmt.Errorf("processors: %w", err)
	}
	p.metrics.state.set(stores)

	reg := codecs.Config{Client: cfg.Registry}
	withSubject := func(topic string) codecs.Config { c := reg; c.Subject = schemas.Subject(topic); return c }
	inputCodec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: withSubject(cfg.Topics.Input), MaxFuture: cfg.MaxFuture})
	if err != nil {
		return err
	}
	pub := &publisher{topics: cfg.Topics, metrics: p.metrics, zone: cfg.TimeZone}
	if pub.deviceCodec, err = codecs.NewDeviceWindowCodec(withSubject(cfg.Topics.DeviceWindows)); err != nil {
		return err
	}
	if pub.stationCodec, err = codecs.NewStationWindowCodec(withSubject(cfg.Topics.StationWindows)); err != nil {
		return err
	}
	if pub.lateCodec, err = codecs.NewReadingCodec(codecs.ReadingConfig{Config: withSubject(cfg.Topics.Late), SkipValidation: true}); err != nil {
		return err
	}

	// Stages run under runCtx; if setting up a later stage fails, the
	// earlier ones are stopped before Run returns.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			supervise(runCtx, log, name, fn)
		}()
	}
	procOpts := func(tracker *storageTracker) []goka.ProcessorOption {
		// goka's builders write ClientID into the config they are given:
		// every processor gets its own copy.
		sc := *sc
		tm := goka.NewTopicManagerConfig()
		tm.Table.Replication = cfg.Replication
		tm.Stream.Replication = cfg.Replication
		opts := []goka.ProcessorOption{
			goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(&sc, tm)),
			goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(&sc)),
			goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(&sc)),
			goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(&sc)),
			goka.WithLogger(gokalog.New(log, "goka")),
			// Keys are placed by the pipeline's one key -> partition
			// function: a device by its station (schemas.Partition).
			goka.WithHasher(schemas.Hasher()),
		}
		if tracker != nil {
			opts = append(opts, goka.WithStorageBuilder(tracker.Build))
			if cfg.HotStandby {
				opts = append(opts, goka.WithHotStandby())
			}
		}
		return opts
	}
	runProc := func(graph func() *goka.GroupGraph, tracker *storageTracker, onRebalance goka.RebalanceCallback, extra ...goka.ProcessorOption) func(context.Context) error {
		group := string(graph().Group())
		p.q.addGroup(group)
		assigned := p.q.onAssign(group, p.metrics)
		return func(ctx context.Context) error {
			opts := append(procOpts(tracker), extra...)
			opts = append(opts, goka.WithRebalanceCallback(logStandby(log, group, func(a goka.Assignment) {
				if onRebalance != nil {
					onRebalance(a)
				}
				assigned(a)
			})))
			proc, err := goka.NewProcessor(cfg.Brokers, graph(), opts...)
			if err != nil {
				return err
			}
			p.q.setProc(group, proc)
			defer p.q.setProc(group, nil)
			return proc.Run(ctx)
		}
	}
	// startTicker sends ticks to every partition of a stage's loopback
	// topic; with lagOf set they say whether its group has caught up with
	// that topic.
	startTicker := func(st Stage, ctrl []string, lagOf string) error {
		tcl, err := kgo.NewClient(append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}, cfg.KafkaOpts...)...)
		if err != nil {
			return err
		}
		context.AfterFunc(runCtx, tcl.Close)
		tk := &ticker{cl: tcl, adm: kadm.NewClient(tcl), group: st.Group, input: lagOf, loop: st.Loop,
			ctrl: ctrl, interval: cfg.TickInterval, log: log}
		start(st.Group+"-ticker", tk.run)
		return nil
	}
	for _, st := range topo.Stages {
		if cfg.runs(st.Name) {
			p.metrics.addStage(st)
		}
	}
	newIntake := func(group string, loopPartitions int) *intake {
		return &intake{group: group, rules: p.sem, decoder: inputCodec, topics: cfg.Topics, log: log, metrics: p.metrics,
			inRecords: p.metrics.recordsIn.WithLabelValues(StageIngest),
			idle:      cfg.IdleTimeout, markEvery: cfg.MarkInterval,
			readingsCtrl: controlKeys(partitions[cfg.Topics.Readings]), ctrl: controlKeys(loopPartitions)}
	}
	if st, ok := topo.Stage(StageIngest); ok && cfg.runs(StageIngest) {
		in := &ingest{intake: newIntake(st.Group, partitions[st.Input]), name: st.Group}
		// goka drops null-value records before the callback by default; the
		// ingest stage must see them to dead-letter them.
		start(st.Group, runProc(in.group, nil, in.forget, goka.WithNilHandling(goka.NilProcess)))
		// Ingest ticks say whether its input partition is caught up: a
		// source is idle only then.
		if err := startTicker(st, in.ctrl, st.Input); err != nil {
			return err
		}
	}
	if cfg.runs(StageWindows) {
		// A partition's watermark merges the input partitions' marks; it
		// closes device and station windows in the writes that advance it.
		st, _ := topo.Stage(StageWindows)
		tracker := newStorageTracker(stores, st.Table)
		n := cfg.Partitions
		p.q.setTable(st.Group, tracker, n)
		sources := partitions[cfg.Topics.Input]
		w := &stage{name: st.Group, rules: p.sem, idle: cfg.IdleTimeout, gen: cfg.Generation, topics: cfg.Topics,
			tracker: tracker, ctrl: controlKeys(n), log: log, metrics: p.metrics, clocks: map[int32]*partClock{},
			sources: sources, direct: cfg.Direct(), count: p.metrics.stageCounters(st.Group)}
		var opts []goka.ProcessorOption
		var onRebalance goka.RebalanceCallback
		lagOf := "" // ticks only drive the idle advance: they need no lag
		if w.direct {
			// The stage reads the input: its ticks say whether each input
			// partition is caught up (a source is idle only then), it sees
			// null-value records to dead-letter them, and its marks wait
			// for the writes of the readings applied in place.
			w.in = newIntake(st.Group, n)
			w.in.acked = w.acked
			onRebalance, lagOf = w.in.forget, st.Input
			opts = append(opts, goka.WithNilHandling(goka.NilProcess))
		}
		start(w.name, runProc(w.group, tracker, onRebalance, opts...))
		// Relay fetches are bounded (franz-go's default allows 50 MiB per
		// fetch response) and options from the user's config come last.
		relayOpts := append([]kgo.Opt{kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(heartbeat(cfg.SessionTimeout)),
			kgo.RebalanceTimeout(rebalanceTimeout(cfg.SessionTimeout)), kgo.FetchMaxBytes(4 << 20), kgo.FetchMaxPartitionBytes(1 << 20)},
			cfg.KafkaOpts...)
		relay, err := emitter.New(emitter.Config{KafkaOpts: relayOpts, Group: st.Relay, Changelog: st.Table,
			Translate: pub.translate(st.Group), OnPublished: pub.onPublished, Logger: log})
		if err != nil {
			return err
		}
		start(st.Relay, relay.Run)
		if err := startTicker(st, w.ctrl, lagOf); err != nil {
			return err
		}
	}
	log.Info("processors running", "stages", runs, "window", cfg.Window, "slide", cfg.Slide, "align", cfg.WindowAlign,
		"time_zone", cfg.TimeZone.String(), "grace", cfg.Grace, "retention", cfg.Retention, "counters", cfg.Counters, "emit", cfg.Emit, "generation", cfg.Generation)
	<-ctx.Done()
	return nil
}

func heartbeat(session time.Duration) time.Duration { return min(session/3, 3*time.Second) }

func rebalanceTimeout(session time.Duration) time.Duration { return max(2*session, 15*time.Second) }

// supervise runs fn until ctx ends, restarting it with backoff when it
// fails, so a broker outage or a goka error never ends the process.
func supervise(ctx context.Context, log *slog.Logger, name string, fn func(context.Context) error) {
	backoff := time.Second
	for {
		started := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = time.Second
		}
		// One readable line with the cause; the whole chain (goka nests
		// its errors deeply) at debug level.
		log.Error("stage stopped; restarting", "stage", name, "cause", Cause(err), "in", backoff)
		log.Debug("stage stopped", "stage", name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// Cause is the innermost error of err's chain (the first of joined
// errors), as one line: what a person needs to read of a stage's failure.
// goka wraps a partition's error in several layers of its own.
func Cause(err error) string {
	if err == nil {
		return ""
	}
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			break
		}
		err = next
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
