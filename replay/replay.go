package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnstile-streams/turnstile/processors"
)

// Earliest is the From value that restarts from the earliest retained offset.
const Earliest = "earliest"

// Config says what to replay.
type Config struct {
	// KafkaOpts reach the cluster (seed brokers, TLS, SASL).
	KafkaOpts []kgo.Opt
	// Pipeline names the topics and groups (its Topics and Groups; zero
	// values mean the defaults).
	Pipeline processors.Config
	// Stages to replay (processors.StageIngest, ...); empty means all.
	Stages []string
	// From is Earliest or an RFC 3339 time: the replayed stages restart
	// there (see Plan).
	From string
	// Retention and Grace of the new generation (0: the members' flags).
	Retention, Grace time.Duration
	// Now stamps the generation (default time.Now).
	Now func() time.Time
	// Logger reports progress (default: discard).
	Logger *slog.Logger
}

// Defaults fills zero fields, the pipeline's included.
func (c *Config) Defaults() {
	c.Pipeline.Defaults()
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// ActiveError is returned while members of the groups to reset are
// running: offsets of a group with members cannot be reset, and its
// members would keep writing the tables being cleared.
type ActiveError struct {
	// Members by group: "client-id@host (member-id)".
	Members map[string][]string
}

func (e *ActiveError) Error() string {
	groups := make([]string, 0, len(e.Members))
	for g := range e.Members {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	var b strings.Builder
	b.WriteString("replay: stop every member first; these groups have active members:")
	for _, g := range groups {
		fmt.Fprintf(&b, " %s [%s]", g, strings.Join(e.Members[g], ", "))
	}
	return b.String()
}

// Reset is one group's new committed offsets on one topic.
type Reset struct {
	Group, Topic string
	// Why: "from" (restart point), "end" (skip what an upstream replay
	// re-emits), "rekeyed" (skip the readings a stage re-keyed to itself:
	// it re-keys them again), "skip" (stale loopback closes and ticks),
	// "start" (a recreated table's changelog).
	Why     string
	Offsets map[int32]int64 // new
	Current map[int32]int64 // committed now (absent: none)
}

// Plan is what a replay does; Print shows it, Execute carries it out.
type Plan struct {
	cfg Config
	// Generation is the one the replay records.
	Generation processors.Generation
	// Previous is the current one (Number 0 if none was recorded).
	Previous processors.Generation
	// Resets lists every group's new offsets, upstream first.
	Resets []Reset
	// Recreate lists the table (changelog) topics deleted and created
	// again, empty; members rebuild their local state from them.
	Recreate []TopicCopy
	// Leftovers are the two-stage pipeline's topics and groups found on
	// the cluster (processors.TwoStageLeftovers), deleted by a replay of
	// the windowed stage: nothing reads them any more.
	LeftoverTopics, LeftoverGroups []string
}

// TopicCopy is a topic to recreate as it was: partitions and the configs
// set on it.
type TopicCopy struct {
	Name       string
	Partitions int32
	Configs    map[string]*string
}

// Prepare checks that nothing runs and computes the plan. It changes
// nothing.
func Prepare(ctx context.Context, cfg Config) (*Plan, error) {
	cfg.Defaults()
	from, fromMs, err := parseFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(cfg.KafkaOpts...)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// The stages are those of the layout the input topic makes.
	if cfg.Pipeline, err = processors.ResolveLayout(ctx, adm, cfg.Pipeline); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	stages, err := selectStages(cfg.Pipeline.Stages(), cfg.Stages)
	if err != nil {
		return nil, err
	}

	if err := checkIdle(ctx, adm, stages); err != nil {
		return nil, err
	}
	prev, _, err := processors.ReadGeneration(ctx, cl, cfg.Pipeline.Topics.Generations)
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("replay: %w", err)
	}
	plan := &Plan{cfg: cfg, Previous: prev, Generation: processors.Generation{
		Number: prev.Number + 1, From: from, RetentionMs: cfg.Retention.Milliseconds(), GraceMs: cfg.Grace.Milliseconds(),
		StartedAt: cfg.Now().UTC().Truncate(time.Millisecond),
	}}
	for _, s := range stages {
		plan.Generation.Groups = append(plan.Generation.Groups, s.Group)
	}

	for i, s := range stages {
		// The first replayed stage of a chain restarts at From; a stage
		// whose upstream stage is replayed too skips to the end of its
		// input, because the upstream stage publishes it all again.
		why := "from"
		if i > 0 && stages[i-1].Name == s.Upstream {
			why = "end"
		}
		if err := plan.addStage(ctx, adm, s, why, fromMs); err != nil {
			return nil, err
		}
	}
	if slices.ContainsFunc(stages, func(s processors.Stage) bool { return s.Name == processors.StageWindows }) {
		if plan.LeftoverTopics, plan.LeftoverGroups, err = leftovers(ctx, adm); err != nil {
			return nil, err
		}
	}
	if err := plan.readCurrent(ctx, adm); err != nil {
		return nil, err
	}
	return plan, nil
}

// addStage plans the replay of stage s: its input reset (why: "from" or
// "end"), the readings it re-keyed to itself skipped, its loopback topic
// skipped (closes and ticks of the old generation are stale), and its
// table recreated, its relay starting at the new table's beginning.
func (p *Plan) addStage(ctx context.Context, adm *kadm.Client, s processors.Stage, why string, fromMs int64) error {
	offsets, err := listOffsets(ctx, adm, s.Input, why, fromMs)
	if err != nil {
		return err
	}
	p.Resets = append(p.Resets, Reset{Group: s.Group, Topic: s.Input, Why: why, Offsets: offsets})
	if s.Rekeyed != "" {
		// The readings it re-keyed to itself: it re-keys them again.
		rk, err := listOffsets(ctx, adm, s.Rekeyed, "end", 0)
		if err != nil {
			return err
		}
		p.Resets = append(p.Resets, Reset{Group: s.Group, Topic: s.Rekeyed, Why: "rekeyed", Offsets: rk})
	}
	if s.Loop != "" {
		// Closes and ticks of the old generation are stale.
		loop, err := listOffsets(ctx, adm, s.Loop, "end", 0)
		if err != nil {
			return err
		}
		p.Resets = append(p.Resets, Reset{Group: s.Group, Topic: s.Loop, Why: "skip", Offsets: loop})
	}
	if s.Table != "" {
		tc, err := describeTopic(ctx, adm, s.Table)
		if err != nil {
			return err
		}
		p.Recreate = append(p.Recreate, tc)
		zero := map[int32]int64{}
		for part := range tc.Partitions {
			zero[part] = 0
		}
		p.Resets = append(p.Resets, Reset{Group: s.Relay, Topic: s.Table, Why: "start", Offsets: zero})
	}
	return nil
}

// readCurrent fills in each reset's current offsets: what its group has
// committed on its topic.
func (p *Plan) readCurrent(ctx context.Context, adm *kadm.Client) error {
	for i := range p.Resets {
		r := &p.Resets[i]
		committed, err := adm.FetchOffsets(ctx, r.Group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			err = nil // a group that never committed (the embedded broker says so; Kafka answers empty)
		}
		if err != nil {
			return fmt.Errorf("replay: committed offsets of %s: %w", r.Group, err)
		}
		r.Current = map[int32]int64{}
		committed.Each(func(o kadm.OffsetResponse) {
			if o.Topic == r.Topic && o.Err == nil && o.At >= 0 {
				r.Current[o.Partition] = o.At
			}
		})
	}
	return nil
}

// Execute carries the plan out: it checks again that no member is active,
// recreates the table topics, commits the new offsets and records the new
// generation. Members started afterwards rebuild their local state from the
// empty tables (the state package notices the recreated topics) and
// publish generation Generation.Number.
func (p *Plan) Execute(ctx context.Context) error {
	log := p.cfg.Logger
	cl, err := kgo.NewClient(p.cfg.KafkaOpts...)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	stages, _ := selectStages(p.cfg.Pipeline.Stages(), p.cfg.Stages)
	if err := checkIdle(ctx, adm, stages); err != nil {
		return err
	}
	for _, t := range p.Recreate {
		if err := recreate(ctx, adm, t); err != nil {
			return err
		}
		log.Info("table cleared", "topic", t.Name, "partitions", t.Partitions)
	}
	if err := deleteLeftovers(ctx, adm, p.LeftoverTopics, p.LeftoverGroups); err != nil {
		return err
	}
	if len(p.LeftoverTopics)+len(p.LeftoverGroups) > 0 {
		log.Info("two-stage pipeline's leftovers deleted", "topics", p.LeftoverTopics, "groups", p.LeftoverGroups)
	}
	for _, r := range p.Resets {
		os := kadm.Offsets{}
		for part, at := range r.Offsets {
			os.Add(kadm.Offset{Topic: r.Topic, Partition: part, At: at, LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, r.Group, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return fmt.Errorf("replay: reset %s on %s: %w", r.Group, r.Topic, err)
		}
		log.Info("offsets reset", "group", r.Group, "topic", r.Topic, "to", r.Why)
	}
	value, err := processors.EncodeGeneration(p.Generation)
	if err != nil {
		return err
	}
	topic := p.cfg.Pipeline.Topics.Generations
	if err := ensureGenerationsTopic(ctx, adm, topic); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(processors.GenerationKey), Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("replay: record generation %d: %w", p.Generation.Number, err)
	}
	log.Info("generation recorded", "generation", p.Generation.Number, "from", p.Generation.From)
	return nil
}

// Print writes the plan for people (turnstile replay --dry-run).
func (p *Plan) Print(w io.Writer) {
	g := p.Generation
	fmt.Fprintf(w, "generation %d -> %d, from %s", p.Previous.Number, g.Number, g.From)
	if g.RetentionMs > 0 {
		fmt.Fprintf(w, ", retention %v", g.Retention())
	}
	if g.GraceMs > 0 {
		fmt.Fprintf(w, ", grace %v", g.Grace())
	}
	fmt.Fprintln(w)
	for _, t := range p.Recreate {
		fmt.Fprintf(w, "clear table %s: delete and recreate the topic (%d partitions); members rebuild local state from it\n", t.Name, t.Partitions)
	}
	if len(p.LeftoverTopics)+len(p.LeftoverGroups) > 0 {
		fmt.Fprintf(w, "delete the two-stage pipeline's leftovers (nothing reads them now): topics %v, groups %v\n", p.LeftoverTopics, p.LeftoverGroups)
	}
	for _, r := range p.Resets {
		fmt.Fprintf(w, "reset %s on %s to %s:\n", r.Group, r.Topic, map[string]string{
			"from": p.Generation.From, "end": "the end (its upstream stage republishes it)", "skip": "the end (closes and ticks of the old generation)",
			"rekeyed": "the end (it re-keys them again from its input)",
			"start":   "the start of the recreated table"}[r.Why])
		parts := make([]int32, 0, len(r.Offsets))
		for part := range r.Offsets {
			parts = append(parts, part)
		}
		slices.Sort(parts)
		for _, part := range parts {
			cur := "none"
			if at, ok := r.Current[part]; ok {
				cur = fmt.Sprint(at)
			}
			fmt.Fprintf(w, "  partition %d: %s -> %d\n", part, cur, r.Offsets[part])
		}
	}
}

func selectStages(all []processors.Stage, names []string) ([]processors.Stage, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []processors.Stage
	for _, s := range all {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(s processors.Stage) bool { return s.Name == n }) {
			known := make([]string, len(all))
			for i, s := range all {
				known[i] = s.Name
			}
			return nil, fmt.Errorf("replay: unknown stage %q (want %s)", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

func parseFrom(from string) (string, int64, error) {
	if from == "" || from == Earliest {
		return Earliest, -1, nil
	}
	t, err := time.Parse(time.RFC3339, from)
	if err != nil {
		return "", 0, fmt.Errorf("replay: --from must be %q or an RFC 3339 time: %w", Earliest, err)
	}
	return t.UTC().Format(time.RFC3339), t.UnixMilli(), nil
}

// checkIdle fails with an ActiveError while any group to reset (the
// stages' groups and their relays) has members.
func checkIdle(ctx context.Context, adm *kadm.Client, stages []processors.Stage) error {
	var groups []string
	for _, s := range stages {
		groups = append(groups, s.Group)
		if s.Relay != "" {
			groups = append(groups, s.Relay)
		}
	}
	described, err := adm.DescribeGroups(ctx, groups...)
	if err != nil {
		return fmt.Errorf("replay: describe groups: %w", err)
	}
	active := &ActiveError{Members: map[string][]string{}}
	for _, g := range described.Sorted() {
		if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
			return fmt.Errorf("replay: describe group %s: %w", g.Group, g.Err)
		}
		for _, m := range g.Members {
			active.Members[g.Group] = append(active.Members[g.Group], fmt.Sprintf("%s@%s (%s)", m.ClientID, m.ClientHost, m.MemberID))
		}
	}
	if len(active.Members) > 0 {
		return active
	}
	return nil
}

// listOffsets is where a group restarts on topic: "from" (fromMs < 0: the
// earliest retained offset), "end", or "start".
func listOffsets(ctx context.Context, adm *kadm.Client, topic, why string, fromMs int64) (map[int32]int64, error) {
	var listed kadm.ListedOffsets
	var err error
	switch {
	case why == "end":
		listed, err = adm.ListEndOffsets(ctx, topic)
	case fromMs < 0:
		listed, err = adm.ListStartOffsets(ctx, topic)
	default:
		listed, err = adm.ListOffsetsAfterMilli(ctx, fromMs, topic)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("replay: offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	if len(out) == 0 {
		return nil, fmt.Errorf("replay: topic %s has no partitions (does it exist?)", topic)
	}
	return out, nil
}

func describeTopic(ctx context.Context, adm *kadm.Client, topic string) (TopicCopy, error) {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return TopicCopy{}, fmt.Errorf("replay: describe %s: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok || d.Err != nil {
		return TopicCopy{}, fmt.Errorf("replay: table topic %s: %w", topic, errors.Join(d.Err, kerr.UnknownTopicOrPartition))
	}
	tc := TopicCopy{Name: topic, Partitions: int32(len(d.Partitions)), Configs: map[string]*string{}}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return TopicCopy{}, fmt.Errorf("replay: configs of %s: %w", topic, err)
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return TopicCopy{}, fmt.Errorf("replay: configs of %s: %w", topic, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
				v := *c.Value
				tc.Configs[c.Key] = &v
			}
		}
	}
	return tc, nil
}

// recreate deletes the topic and creates it again with the same partitions
// and configs. Deletion is asynchronous in Kafka: creation is retried
// while the old topic is still being removed.
func recreate(ctx context.Context, adm *kadm.Client, t TopicCopy) error {
	resp, err := adm.DeleteTopics(ctx, t.Name)
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("replay: delete %s: %w", t.Name, err)
	}
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		cr, err := adm.CreateTopic(ctx, t.Partitions, -1, t.Configs, t.Name)
		if err == nil {
			err = cr.Err
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("replay: create %s: %w", t.Name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replay: %s is still being deleted: %w", t.Name, ctx.Err())
		case <-time.After(backoff):
		}
	}
}

func ensureGenerationsTopic(ctx context.Context, adm *kadm.Client, topic string) error {
	compact := "compact"
	resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("replay: create %s: %w", topic, err)
	}
	return nil
}

// leftovers lists the two-stage pipeline's topics and groups that exist.
func leftovers(ctx context.Context, adm *kadm.Client) (topics, groups []string, err error) {
	wantTopics, wantGroups := processors.TwoStageLeftovers()
	details, err := adm.ListTopics(ctx, wantTopics...)
	if err != nil {
		return nil, nil, fmt.Errorf("replay: list topics: %w", err)
	}
	for _, t := range wantTopics {
		if d, ok := details[t]; ok && d.Err == nil {
			topics = append(topics, t)
		}
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("replay: list groups: %w", err)
	}
	for _, g := range wantGroups {
		if _, ok := listed[g]; ok {
			groups = append(groups, g)
		}
	}
	return topics, groups, nil
}

func deleteLeftovers(ctx context.Context, adm *kadm.Client, topics, groups []string) error {
	if len(topics) > 0 {
		resp, err := adm.DeleteTopics(ctx, topics...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("replay: delete %v: %w", topics, err)
		}
	}
	if len(groups) > 0 {
		resp, err := adm.DeleteGroups(ctx, groups...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			return fmt.Errorf("replay: delete groups %v: %w", groups, err)
		}
	}
	return nil
}
