package processors

import (
	"context"
	"errors"
	"fmt"
	"hash"
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
	backlog backlogSeen // CatchingUp
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
	// The ticker sees an input partition caught up from the committed
	// offset (grouplag), and the last windows close only once every one
	// is: commit as often as it ticks (sarama's default is every second).
	// The MTA week into dev, three alternating pairs: see
	// docs/benchmarks.md.
	sc.Consumer.Offsets.AutoCommit.Interval = min(p.cfg.TickInterval, time.Second)
	// The changelog's order is the table's truth: acknowledge from all
	// replicas and never reorder on retry.
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Compression = sarama.CompressionNone
	// Consumer buffers: a member consumes ~18 partitions (input, readings,
	// loop), each with sarama's message channels and fetch buffer
	// (defaults 256 messages, 1 MiB). sarama sends a broker its next fetch
	// once every partition took the last one's messages: channels that
	// hold a whole 256 KiB fetch (~1,000 readings) let the partitions that
	// are done go on instead of waiting for the slowest. Measured, four
	// pairs of 2 M readings: 1,024 against 64 messages, +2 to +16 %
	// readings/s, the memory phase's member 159/166 → 176/181 MiB.
	sc.ChannelBufferSize = 1024
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
	m, err := p.setUp(ctx)
	if err != nil {
		return err
	}
	defer m.close()
	// Stages run under runCtx; if starting a later stage fails, the
	// earlier ones are stopped before Run returns.
	runCtx, stop := context.WithCancel(ctx)
	err = m.start(runCtx)
	if err == nil {
		cfg := m.cfg
		m.log.Info("processors running", "stages", m.runs, "window", cfg.Window, "slide", cfg.Slide, "align", cfg.WindowAlign,
			"time_zone", cfg.TimeZone.String(), "grace", cfg.Grace, "retention", cfg.Retention, "counters", cfg.Counters, "emit", cfg.Emit,
			"generation", cfg.Generation)
		<-ctx.Done()
	}
	stop()
	m.wg.Wait()
	return err
}

// member is one Run of a Pipeline: what setting up made (the resolved
// config, the clients, the state stores, the codecs) and the goroutines of
// the stages it started. Setting up happens in order, each step a method;
// starting a stage is one method per stage.
type member struct {
	p          *Pipeline
	cfg        Config // resolved: layout and generation applied
	log        *slog.Logger
	runs       []string       // the topology's stages this member runs
	admCl      *kgo.Client    // admin and generation reads
	partitions map[string]int // partition count of every topology topic
	changelog  *state.KafkaChangelog
	stores     *state.Stores
	sarama     *sarama.Config
	input      *codecs.ReadingCodec
	pub        *publisher

	runCtx context.Context // set by start
	wg     sync.WaitGroup  // the started stages' goroutines
	// inputs is the intake that reads the input (nil: another member's
	// stage does), pokes its way to wake the tickers.
	inputs *intake
	pokes  tickPokes
}

// setUp resolves the layout, creates the missing topics, refuses a
// two-stage pipeline's state, loads the generation, opens the state stores
// and builds the codecs. On error, what it opened is closed.
func (p *Pipeline) setUp(ctx context.Context) (_ *member, err error) {
	m := &member{p: p, log: p.cfg.Logger}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if m.admCl, err = kgo.NewClient(p.cfg.KafkaOpts...); err != nil {
		return nil, fmt.Errorf("processors: %w", err)
	}
	adm := kadm.NewClient(m.admCl)
	p.q.setAdmin(adm)
	steps := []func(context.Context, *kadm.Client) error{m.resolveLayout, m.ensureTopics, m.refuseTwoStages, m.loadGeneration, m.openState, m.buildCodecs}
	for _, step := range steps {
		if err := step(ctx, adm); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// close releases what setUp opened; stages must have stopped.
func (m *member) close() {
	m.p.q.setAdmin(nil)
	if m.changelog != nil {
		m.changelog.Close()
	}
	if m.admCl != nil {
		m.admCl.Close()
	}
}

// resolveLayout follows the input topic's partition count (Topology) and
// lists the stages this member runs.
func (m *member) resolveLayout(ctx context.Context, adm *kadm.Client) error {
	cfg, err := ResolveLayout(ctx, adm, m.p.cfg)
	if err != nil {
		return err
	}
	m.p.cfg, m.p.topo, m.cfg = cfg, cfg.Topology(), cfg
	for _, st := range m.p.topo.Stages {
		if cfg.runs(st.Name) {
			m.runs = append(m.runs, st.Name)
		}
	}
	if len(m.runs) == 0 {
		return fmt.Errorf("processors: none of the stages %v runs in this pipeline: the input topic %s has the pipeline's %d partitions, "+
			"so the windowed stage reads it itself and there is no ingest stage (run %s)", cfg.Run, cfg.Topics.Input, cfg.Partitions, StageWindows)
	}
	if cfg.Direct() {
		m.log.Info("the windowed stage reads the input itself; readings not on their partition are re-keyed",
			"input", cfg.Topics.Input, "partitions", cfg.Partitions)
	} else {
		m.log.Info("the input has another partition count than the pipeline: an ingest stage re-keys every reading",
			"input", cfg.Topics.Input, "input_partitions", cfg.InputPartitions, "partitions", cfg.Partitions)
	}
	return nil
}

func (m *member) ensureTopics(ctx context.Context, adm *kadm.Client) error {
	created, partitions, err := EnsureTopics(ctx, adm, m.p.topo.Topics, int16(m.cfg.Replication))
	if err != nil {
		return err
	}
	if len(created) > 0 {
		m.log.Info("created topics", "topics", created, "partitions", m.cfg.Partitions)
	}
	m.partitions = partitions
	return nil
}

// refuseTwoStages refuses the two-stage pipeline's state rather than mix
// layouts (checkLayout).
func (m *member) refuseTwoStages(ctx context.Context, _ *kadm.Client) error {
	if !m.cfg.runs(StageWindows) {
		return nil
	}
	st, _ := m.p.topo.Stage(StageWindows)
	return retryUnknownTopic(ctx, func() error { return checkLayout(ctx, m.admCl, st) })
}

func (m *member) loadGeneration(ctx context.Context, _ *kadm.Client) error {
	if err := m.p.loadGeneration(ctx, m.admCl); err != nil {
		return err
	}
	m.cfg = m.p.cfg
	return nil
}

func (m *member) openState(context.Context, *kadm.Client) error {
	var err error
	if m.changelog, err = state.NewKafkaChangelog(m.cfg.KafkaOpts...); err != nil {
		return fmt.Errorf("processors: %w", err)
	}
	opts := m.cfg.State
	opts.Changelog = m.changelog
	// wire.TableCodec encodes every value into a new slice.
	opts.KeepValues = true
	if opts.Logger == nil {
		opts.Logger = m.log
	}
	if m.stores, err = state.New(opts); err != nil {
		return fmt.Errorf("processors: %w", err)
	}
	m.p.metrics.state.set(m.stores)
	return nil
}

// buildCodecs builds the input's and the sink topics' codecs, each on its
// topic's subject, and goka's sarama config.
func (m *member) buildCodecs(context.Context, *kadm.Client) error {
	cfg := m.cfg
	var err error
	if m.sarama, err = m.p.saramaConfig(); err != nil {
		return err
	}
	reg := codecs.Config{Client: cfg.Registry}
	on := func(topic string) codecs.Config { c := reg; c.Subject = schemas.Subject(topic); return c }
	if m.input, err = codecs.NewReadingCodec(codecs.ReadingConfig{Config: on(cfg.Topics.Input), MaxFuture: cfg.MaxFuture}); err != nil {
		return err
	}
	pub := &publisher{topics: cfg.Topics, metrics: m.p.metrics, zone: cfg.TimeZone}
	if pub.deviceCodec, err = codecs.NewDeviceWindowCodec(on(cfg.Topics.DeviceWindows)); err != nil {
		return err
	}
	if pub.stationCodec, err = codecs.NewStationWindowCodec(on(cfg.Topics.StationWindows)); err != nil {
		return err
	}
	if pub.lateCodec, err = codecs.NewReadingCodec(codecs.ReadingConfig{Config: on(cfg.Topics.Late), SkipValidation: true}); err != nil {
		return err
	}
	m.pub = pub
	return nil
}

// start starts the stages this member runs under ctx: each runs
// supervised (restarted with backoff) until ctx ends.
func (m *member) start(ctx context.Context) error {
	m.runCtx = ctx
	for _, st := range m.p.topo.Stages {
		if m.cfg.runs(st.Name) {
			m.p.metrics.addStage(st)
		}
	}
	if st, ok := m.p.topo.Stage(StageIngest); ok && m.cfg.runs(StageIngest) {
		if err := m.startIngest(st); err != nil {
			return err
		}
	}
	if st, ok := m.p.topo.Stage(StageWindows); ok && m.cfg.runs(StageWindows) {
		return m.startWindows(st)
	}
	return nil
}

// startIngest starts the ingest stage, which re-keys every reading to the
// readings topic, and its ticker.
func (m *member) startIngest(st Stage) error {
	in := &ingest{intake: m.newIntake(st.Group, m.partitions[st.Input]), name: st.Group}
	m.inputs = in.intake
	// goka drops null-value records before the callback by default; the
	// ingest stage must see them to dead-letter them.
	m.run(st.Group, m.processor(in.group, nil, in.forget, goka.WithNilHandling(goka.NilProcess)))
	// Ingest ticks say whether its input partition is caught up: a source
	// is idle only then.
	return m.startTicker(st, in.ctrl, st.Group)
}

// startWindows starts the windowed stage, its relay and its ticker. A
// partition's watermark merges the input partitions' marks; it closes
// device and station windows in the writes that advance it.
func (m *member) startWindows(st Stage) error {
	cfg := m.cfg
	tracker := newStorageTracker(m.stores, st.Table)
	n := cfg.Partitions
	m.p.q.setTable(st.Group, tracker, n)
	w := &stage{name: st.Group, rules: m.p.sem, idle: cfg.IdleTimeout, gen: cfg.Generation, topics: cfg.Topics,
		tracker: tracker, ctrl: controlKeys(n), log: m.log, metrics: m.p.metrics, clocks: map[int32]*partClock{},
		sources: m.partitions[cfg.Topics.Input], direct: cfg.Direct(), count: m.p.metrics.stageCounters(st.Group),
		writeBehind: cfg.WriteBehindKeys}
	// The stage writes held devices through its processor's producer.
	build := kgoProducerBuilder(cfg.KafkaOpts)
	opts := []goka.ProcessorOption{goka.WithProducerBuilder(func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		p, err := build(brokers, clientID, hasher)
		if kp, ok := p.(*kgoProducer); ok {
			w.setOut(kgoChangelog{p: kp, topic: st.Table})
		}
		return p, err
	})}
	var onRebalance goka.RebalanceCallback
	// Ticks carry the lag of the group that reads the input (the sources
	// of the watermark) for every partition's watermark.Gate.
	lagGroup := cfg.Groups.Ingest
	if w.direct {
		// The stage reads the input: its ticks also say whether each input
		// partition is caught up (a source is idle only then), it sees
		// null-value records to dead-letter them, and its marks wait for
		// the writes of the readings applied in place.
		w.in = m.newIntake(st.Group, n)
		w.in.acked = w.acked
		w.in.flush = w.flushHeld
		w.in.nudge = w.nudge
		m.inputs = w.in
		onRebalance, lagGroup = w.in.forget, st.Group
		opts = append(opts, goka.WithNilHandling(goka.NilProcess))
		if cfg.AlignDrift > 0 {
			// Watermark alignment pauses input partitions that run ahead
			// (stage.align) through the processor's consumer group.
			pz := &groupPauser{topic: cfg.Topics.Input}
			w.drift, w.pauser = cfg.AlignDrift.Milliseconds(), pz
			sc := *m.sarama
			opts = append(opts, goka.WithConsumerGroupBuilder(pz.builder(goka.ConsumerGroupBuilderWithConfig(&sc))))
		}
	}
	m.run(w.name, m.processor(w.group, tracker, onRebalance, opts...))
	// Relay fetches are bounded (franz-go's default allows 50 MiB per fetch
	// response) and options from the user's config come last.
	relayOpts := append([]kgo.Opt{kgo.SessionTimeout(cfg.SessionTimeout), kgo.HeartbeatInterval(heartbeat(cfg.SessionTimeout)),
		kgo.RebalanceTimeout(rebalanceTimeout(cfg.SessionTimeout)), kgo.FetchMaxBytes(4 << 20), kgo.FetchMaxPartitionBytes(1 << 20)},
		cfg.KafkaOpts...)
	tr := m.pub.translator(st.Group)
	relay, err := emitter.New(emitter.Config{KafkaOpts: relayOpts, Group: st.Relay, Changelog: st.Table,
		Translate: tr.translate, Recycle: tr.recycle, OnPublished: m.pub.onPublished, Logger: m.log})
	if err != nil {
		return err
	}
	m.run(st.Relay, relay.Run)
	return m.startTicker(st, w.ctrl, lagGroup)
}

func (m *member) newIntake(group string, loopPartitions int) *intake {
	cfg := m.cfg
	return &intake{group: group, rules: m.p.sem, decoder: m.input, topics: cfg.Topics, log: m.log, metrics: m.p.metrics,
		inRecords: m.p.metrics.recordsIn.WithLabelValues(StageIngest),
		idle:      cfg.IdleTimeout, markEvery: cfg.MarkInterval, catchUpMarkEvery: cfg.CatchUpMarkInterval,
		readingsCtrl: controlKeys(m.partitions[cfg.Topics.Readings]), ctrl: controlKeys(loopPartitions),
		backlog: &m.p.backlog, poke: m.pokes.poke}
}

// catchUpQuiet is how long after the last trailing record Pipeline.CatchingUp
// still says the member is catching up: longer than goka's consumers take
// between two records of a backlog.
const catchUpQuiet = 250 * time.Millisecond

// CatchingUp reports whether the member trails its input: within the
// last quarter second it took an input record appended over a quarter
// second before (trailAge: a catch-up after downtime, a replay, a producer
// faster than the pipeline). turnstile dev holds its lake-writer back
// meanwhile, so the windows come first (devstack). Safe for concurrent
// use.
func (p *Pipeline) CatchingUp() bool { return p.backlog.within(time.Now(), catchUpQuiet) }

// run runs fn supervised under the member's run context.
func (m *member) run(name string, fn func(context.Context) error) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		supervise(m.runCtx, m.log, name, fn)
	}()
}

// startTicker sends ticks to every partition of a stage's loopback topic,
// with the lag of lagGroup on the input topic (see ticker).
func (m *member) startTicker(st Stage, ctrl []string, lagGroup string) error {
	tcl, err := kgo.NewClient(append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}, m.cfg.KafkaOpts...)...)
	if err != nil {
		return fmt.Errorf("processors: %w", err)
	}
	context.AfterFunc(m.runCtx, tcl.Close)
	tk := &ticker{cl: tcl, adm: kadm.NewClient(tcl), lagGroup: lagGroup, lagTopic: m.cfg.Topics.Input,
		loop: st.Loop, ctrl: ctrl, interval: m.cfg.TickInterval, log: m.log}
	if m.cfg.IdleTimeout > 0 {
		tk.endGroup = m.cfg.InputEndGroup // a declared end only makes idleness earlier
	}
	if m.inputs != nil {
		tk.sentEnds, tk.poke = m.inputs.sentEnd, m.pokes.add()
	}
	m.run(st.Group+"-ticker", tk.run)
	return nil
}

// processor returns a function that builds one goka processor for graph
// and runs it until its context ends; its table (if tracker is set) is
// kept in the member's state stores, and every rebalance is reported to
// onRebalance and to what queries and readiness see.
func (m *member) processor(graph func() *goka.GroupGraph, tracker *storageTracker, onRebalance goka.RebalanceCallback,
	extra ...goka.ProcessorOption) func(context.Context) error {
	q := m.p.q
	group := string(graph().Group())
	q.addGroup(group)
	assigned := q.onAssign(group, m.p.metrics)
	return func(ctx context.Context) error {
		opts := append(m.processorOptions(tracker), extra...)
		opts = append(opts, goka.WithRebalanceCallback(logStandby(m.log, group, func(a goka.Assignment) {
			if onRebalance != nil {
				onRebalance(a)
			}
			assigned(a)
		})))
		proc, err := goka.NewProcessor(m.cfg.Brokers, graph(), opts...)
		if err != nil {
			return err
		}
		q.setProc(group, proc)
		defer q.setProc(group, nil)
		return proc.Run(ctx)
	}
}

func (m *member) processorOptions(tracker *storageTracker) []goka.ProcessorOption {
	// goka's builders write ClientID into the config they are given: every
	// processor gets its own copy.
	sc := *m.sarama
	tm := goka.NewTopicManagerConfig()
	tm.Table.Replication = m.cfg.Replication
	tm.Stream.Replication = m.cfg.Replication
	opts := []goka.ProcessorOption{
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(&sc, tm)),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(&sc)),
		// Changelog writes, emits and loopbacks go through franz-go
		// (kgoProducer), the consumers stay goka's (sarama's).
		goka.WithProducerBuilder(kgoProducerBuilder(m.cfg.KafkaOpts)),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(&sc)),
		goka.WithLogger(gokalog.New(m.log, "goka")),
		// Keys are placed by the pipeline's one key -> partition function:
		// a device by its station (schemas.Partition).
		goka.WithHasher(schemas.Hasher()),
	}
	if tracker != nil {
		opts = append(opts, goka.WithStorageBuilder(tracker.Build))
		if m.cfg.HotStandby {
			opts = append(opts, goka.WithHotStandby())
		}
	}
	return opts
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
