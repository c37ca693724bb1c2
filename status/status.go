package status

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/turnstile-streams/turnstile/internal/grouplag"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Config names what a report covers.
type Config struct {
	// Groups are the consumer groups and the topics whose lag counts.
	Groups []processors.ConsumerGroup
	// Topics names the pipeline's external topics (input, sinks, dead
	// letters, late readings).
	Topics schemas.Topics
	// Stages are the pipeline's stages whose watermarks CollectWatermarks
	// reads (the windowed ones and ingest); Collect does not use them.
	Stages []processors.Stage

	// pipeline and lakeGroup, when set by ForPipeline, rebuild Groups and
	// Stages from the pipeline's layout, which the input topic decides
	// (processors.ResolveLayout), on every Collect.
	pipeline  *processors.Config
	lakeGroup string
}

// ForPipeline covers a pipeline's groups plus, when lakeGroup is not
// empty, the lake-writer's group reading both sink topics. Its groups and
// stages follow the layout the input topic makes (see processors.Topology):
// each Collect finds it out again.
func ForPipeline(cfg processors.Config, lakeGroup string) Config {
	c := forLayout(cfg, lakeGroup)
	c.pipeline, c.lakeGroup = &cfg, lakeGroup
	return c
}

func forLayout(cfg processors.Config, lakeGroup string) Config {
	cfg.Defaults()
	topo := cfg.Topology()
	c := Config{Groups: topo.ConsumerGroups(), Topics: cfg.Topics.Topics, Stages: topo.Stages}
	if lakeGroup != "" {
		c.Groups = append(c.Groups, processors.ConsumerGroup{Group: lakeGroup,
			Topics: []string{cfg.Topics.DeviceWindows, cfg.Topics.StationWindows}})
	}
	return c
}

// resolve is c with the groups and stages of the pipeline's layout now.
func (c Config) resolve(ctx context.Context, adm *kadm.Client) (Config, error) {
	if c.pipeline == nil {
		return c, nil
	}
	cfg, err := processors.ResolveLayout(ctx, adm, *c.pipeline)
	if err != nil {
		return c, fmt.Errorf("status: %w", err)
	}
	return forLayout(cfg, c.lakeGroup), nil
}

// Report is the state of a deployment as Kafka sees it, and, when
// CollectWatermarks has filled Watermarks in, as its members report it.
type Report struct {
	At     time.Time `json:"at"`
	Groups []Group   `json:"groups"`
	Topics []Topic   `json:"topics"`
	// Records retained on the dead-letter, late and sink topics (end minus
	// start offsets: what retention kept, corrections included).
	DeadLettered   int64 `json:"dead_lettered"`
	Late           int64 `json:"too_late"`
	DeviceWindows  int64 `json:"device_windows"`
	StationWindows int64 `json:"station_windows"`
	// Watermarks is nil unless the caller collected them
	// (CollectWatermarks): Collect reads Kafka only.
	Watermarks *Watermarks `json:"watermarks,omitempty"`
}

// Group is one consumer group's progress.
type Group struct {
	Group   string `json:"group"`
	State   string `json:"state"` // Stable, PreparingRebalance, Empty, Dead, ...
	Members int    `json:"members"`
	// Absent groups have neither members nor committed offsets: that part
	// of the deployment never ran; they do not count for CaughtUp.
	Absent bool  `json:"absent,omitempty"`
	Lag    int64 `json:"lag"`
	// Unknown counts the partitions whose lag could not be computed (their
	// offsets could not be listed or fetched); they are not in Lag, and a
	// group with any is not caught up.
	Unknown int          `json:"unknown,omitempty"`
	Topics  []GroupTopic `json:"topics"`
}

// GroupTopic is a group's lag on one topic.
type GroupTopic struct {
	Topic     string `json:"topic"`
	Lag       int64  `json:"lag"`
	Committed int64  `json:"committed"`         // sum over partitions of the committed offsets (-1 each: none)
	End       int64  `json:"end"`               // sum over partitions of the end offsets
	Unknown   int    `json:"unknown,omitempty"` // partitions whose lag is unknown
}

// Topic is one topic's offsets.
type Topic struct {
	Topic      string `json:"topic"`
	Partitions int    `json:"partitions"`
	Start      int64  `json:"start"`   // sum of log start offsets
	End        int64  `json:"end"`     // sum of end offsets
	Records    int64  `json:"records"` // End - Start
	Missing    bool   `json:"missing,omitempty"`
}

// Lag is the sum of every present group's lag.
func (r *Report) Lag() int64 {
	var n int64
	for _, g := range r.Groups {
		if !g.Absent {
			n += g.Lag
		}
	}
	return n
}

// CaughtUp says whether every present group has consumed everything.
func (r *Report) CaughtUp() bool {
	for _, g := range r.Groups {
		if !g.Absent && (g.Lag > 0 || g.Unknown > 0) {
			return false
		}
	}
	return true
}

// Group returns a group's entry.
func (r *Report) Group(name string) (Group, bool) {
	for _, g := range r.Groups {
		if g.Group == name {
			return g, true
		}
	}
	return Group{}, false
}

// Collect reads group offsets and topic offsets from Kafka. Committed
// offsets are read before end offsets, so a group reported caught up has
// consumed everything its upstream had written when it committed.
func Collect(ctx context.Context, adm *kadm.Client, cfg Config) (*Report, error) {
	cfg, err := cfg.resolve(ctx, adm)
	if err != nil {
		return nil, err
	}
	r := &Report{At: time.Now().UTC()}
	names := make([]string, len(cfg.Groups))
	for i, g := range cfg.Groups {
		names[i] = g.Group
	}
	committed, err := fetchCommitted(ctx, adm, names)
	if err != nil {
		return nil, err
	}
	described, err := adm.DescribeGroups(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("status: describe groups: %w", err)
	}

	topics := cfg.topics()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("status: end offsets: %w", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("status: start offsets: %w", err)
	}

	byTopic := map[string]Topic{}
	for _, t := range topics {
		tp := topicOffsets(t, starts, ends)
		byTopic[t] = tp
		r.Topics = append(r.Topics, tp)
	}
	r.DeadLettered = byTopic[cfg.Topics.DeadLetters].Records
	r.Late = byTopic[cfg.Topics.Late].Records
	r.DeviceWindows = byTopic[cfg.Topics.DeviceWindows].Records
	r.StationWindows = byTopic[cfg.Topics.StationWindows].Records

	for _, cg := range cfg.Groups {
		r.Groups = append(r.Groups, groupProgress(cg, described, committed[cg.Group], starts, ends))
	}
	return r, nil
}

// fetchCommitted returns the committed offsets of each group that has any.
func fetchCommitted(ctx context.Context, adm *kadm.Client, groups []string) (map[string]kadm.OffsetResponses, error) {
	committed := map[string]kadm.OffsetResponses{}
	for _, g := range groups {
		offs, err := adm.FetchOffsets(ctx, g)
		if errors.Is(err, kerr.GroupIDNotFound) {
			continue // never committed (the embedded broker says so; Kafka answers empty)
		}
		if err != nil {
			return nil, fmt.Errorf("status: offsets of %s: %w", g, err)
		}
		committed[g] = offs
	}
	return committed, nil
}

// topics are the topics a report covers, sorted: those the groups read and
// the pipeline's external ones.
func (c Config) topics() []string {
	set := map[string]bool{}
	for _, g := range c.Groups {
		for _, t := range g.Topics {
			set[t] = true
		}
	}
	for _, t := range []string{c.Topics.Input, c.Topics.DeviceWindows, c.Topics.StationWindows, c.Topics.DeadLetters, c.Topics.Late} {
		if t != "" {
			set[t] = true
		}
	}
	topics := make([]string, 0, len(set))
	for t := range set {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	return topics
}

// topicOffsets sums topic t's offsets over its partitions; a topic without
// end offsets, or with a partition whose end offset failed, is Missing.
func topicOffsets(t string, starts, ends kadm.ListedOffsets) Topic {
	tp := Topic{Topic: t}
	ps, ok := ends[t]
	if !ok || len(ps) == 0 {
		tp.Missing = true
	}
	for p, e := range ps {
		if e.Err != nil {
			tp.Missing = true
			continue
		}
		tp.Partitions++
		tp.End += e.Offset
		if s, ok := starts.Lookup(t, p); ok && s.Err == nil {
			tp.Start += s.Offset
		}
	}
	tp.Records = tp.End - tp.Start
	return tp
}

// groupProgress is one group's entry: its state and members as described
// (Dead when it could not be), and its lag per topic by grouplag's rules.
func groupProgress(cg processors.ConsumerGroup, described kadm.DescribedGroups, commits kadm.OffsetResponses, starts, ends kadm.ListedOffsets) Group {
	g := Group{Group: cg.Group}
	d, ok := described[cg.Group]
	if ok && d.Err == nil {
		g.State, g.Members = d.State, len(d.Members)
	} else {
		d = kadm.DescribedGroup{Group: cg.Group}
	}
	if g.State == "" {
		g.State = "Dead"
	}
	lag := grouplag.Compute(d, commits, starts, ends, cg.Topics...)
	hasCommit := false
	for _, t := range cg.Topics {
		gt := GroupTopic{Topic: t}
		for _, l := range lag[t] {
			if l.End.Err == nil {
				gt.End += l.End.Offset
			}
			if l.Commit.At >= 0 {
				hasCommit = true
				gt.Committed += l.Commit.At
			} else {
				gt.Committed--
			}
			if l.Err != nil {
				gt.Unknown++
				continue
			}
			gt.Lag += l.Lag
		}
		g.Lag += gt.Lag
		g.Unknown += gt.Unknown
		g.Topics = append(g.Topics, gt)
	}
	g.Absent = !hasCommit && g.Members == 0
	return g
}
