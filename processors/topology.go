package processors

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Topology is the graph described once: its stages, upstream first, each
// with its goka group, the topics it reads and writes, the relay
// publishing its table, and the topics it owns with the specs they are
// created with. Whatever names a topic or a group of the graph derives
// from it: the topics to create (Config.TopicSpecs), the consumer groups
// whose lag says whether the pipeline has caught up (Config.ConsumerGroups),
// the stages turnstile replay resets and turnstile status reads
// (Config.Stages), the wiring of Pipeline.Run and the stage and group
// labels of the metrics.
//
// A stage's group, input, loopback, table and goka outputs are read from
// the goka group graph it runs (so loopback and table topics are goka's
// names); what the graph does not say is stated here once: the relay's
// consumer group and the topics the relay writes (publish.go).
type Topology struct {
	// Stages upstream first: a stage's Upstream comes before it.
	Stages []Stage
	// Topics are every topic of the graph in creation order: each stage's
	// Topics in stage order, then the generations topic. A topic whose
	// partition count follows another (TopicSpec.PartitionsOf) comes
	// after it.
	Topics []TopicSpec
}

// Stage is one goka group of the graph and the topics and groups around
// it.
type Stage struct {
	// Name names the stage in Config.Run and turnstile replay --stages,
	// and is the stage label of the metrics (StageIngest, ...).
	Name string
	// Group is the goka group; Input the stream it consumes, Loop its
	// loopback topic and Table its table topic ("" for the table-less
	// ingest stage).
	Group, Input, Loop, Table string
	// Rekeyed is the stream a stage reading the pipeline's input in place
	// also consumes: the readings it re-keyed to their partitions itself
	// ("" when the stage has one input).
	Rekeyed string
	// Relay is the consumer group of the relay publishing the table's
	// outboxes from its changelog ("" without a table).
	Relay string
	// Outputs are the topics the stage writes: its goka group's output
	// streams, then its relay's.
	Outputs []string
	// Upstream is the stage whose Outputs hold Input ("" for the stage
	// reading the pipeline's input topic): the one whose partitions are
	// this stage's watermark sources, and whose replay this stage's
	// replay follows.
	Upstream string
	// Topics are the topics the stage owns, with their specs: the ones it
	// reads (Input, Loop, Table) and the Outputs no stage reads (the
	// sinks).
	Topics []TopicSpec
}

// ConsumerGroup is one consumer group of the pipeline and the topics whose
// lag says whether it has caught up.
type ConsumerGroup struct {
	Group  string
	Topics []string
}

// Topology describes the graph with c's names and partitions (zero fields
// take their defaults). It has one of two layouts, by the input topic's
// partition count (Config.InputPartitions):
//   - the pipeline's (the default): the windowed stage reads the input
//     itself, applies each reading already on its partition with its
//     reading key in place, and re-keys only the others through the
//     readings topic, which it also reads;
//   - another count: goka joins a group's inputs by partition, so an
//     ingest stage reads the input and re-keys every reading to the
//     windowed stage.
func (c Config) Topology() Topology {
	c.Defaults()
	t := c.Topics
	// The graphs are built for their edges only: the stage values their
	// callbacks are bound to never run.
	var stages []Stage
	direct := c.Direct()
	if !direct {
		stages = append(stages, graphStage(StageIngest, (&ingest{intake: &intake{topics: t}, name: c.Groups.Ingest}).group()))
	}
	// The relay publishes device and station windows and too-late
	// readings (publisher.translate).
	stages = append(stages, graphStage(StageWindows, (&stage{name: c.Groups.Windows, topics: t, direct: direct}).group(),
		t.DeviceWindows, t.StationWindows, t.Late))
	read := map[string]bool{}
	for i := range stages {
		s := &stages[i]
		read[s.Input] = true
		if s.Rekeyed != "" {
			read[s.Rekeyed] = true
		}
		for _, u := range stages[:i] {
			if slices.Contains(u.Outputs, s.Input) {
				s.Upstream = u.Name
			}
		}
		if s.Upstream == "" && s.Input != t.Input {
			panic(fmt.Sprintf("processors: stage %s reads %s, which no earlier stage writes", s.Name, s.Input))
		}
	}
	str := func(s string) *string { return &s }
	p := int32(c.Partitions)
	var all []TopicSpec
	for i := range stages {
		s := &stages[i]
		// The pipeline's input may exist with any partition count: the
		// layout follows it (Topology, ResolveLayout), so it is never
		// refused for its count; every topic a stage writes for another has
		// the pipeline's, and goka joins a group's topics by partition.
		co := s.Upstream != ""
		s.Topics = append(s.Topics, TopicSpec{Name: s.Input, Partitions: p, CoPartitioned: co})
		if s.Rekeyed != "" {
			s.Topics = append(s.Topics, TopicSpec{Name: s.Rekeyed, Partitions: p, CoPartitioned: true})
		}
		if s.Loop != "" {
			// The ingest stage's loopback follows its input, of any
			// count; the windowed stage's has the pipeline's (in the
			// direct layout the input has it too).
			loop := TopicSpec{Name: s.Loop, Partitions: p, CoPartitioned: true}
			if s.Table == "" {
				loop.CoPartitioned, loop.PartitionsOf = false, s.Input
			}
			s.Topics = append(s.Topics, loop)
		}
		if s.Table != "" {
			// Compacted, and protected until the relay has read it.
			s.Topics = append(s.Topics, TopicSpec{Name: s.Table, Partitions: p, CoPartitioned: true, Configs: map[string]*string{
				"cleanup.policy":        str("compact"),
				"min.compaction.lag.ms": str(strconv.FormatInt(c.MinCompactionLag.Milliseconds(), 10)),
			}})
		}
		for _, o := range s.Outputs {
			if !read[o] {
				s.Topics = append(s.Topics, TopicSpec{Name: o, Partitions: p})
			}
		}
		all = append(all, s.Topics...)
	}
	// One partition: the latest generation is its last record.
	all = append(all, TopicSpec{Name: t.Generations, Partitions: 1, Configs: map[string]*string{"cleanup.policy": str("compact")}})
	return Topology{Stages: stages, Topics: all}
}

// graphStage is the stage running graph; relayOutputs are the topics the
// relay of its table writes.
func graphStage(name string, graph *goka.GroupGraph, relayOutputs ...string) Stage {
	inputs := graph.InputStreams().Topics()
	if len(inputs) != 1 && len(inputs) != 2 {
		panic(fmt.Sprintf("processors: stage %s consumes %d streams; a stage has its input and at most its re-keyed readings", name, len(inputs)))
	}
	s := Stage{Name: name, Group: string(graph.Group()), Input: inputs[0], Outputs: graph.OutputStreams().Topics()}
	if len(inputs) == 2 {
		s.Rekeyed = inputs[1]
	}
	if e := graph.LoopStream(); e != nil {
		s.Loop = e.Topic()
	}
	if e := graph.GroupTable(); e != nil {
		s.Table, s.Relay = e.Topic(), s.Group+"-relay"
	}
	if s.Relay == "" && len(relayOutputs) > 0 {
		panic(fmt.Sprintf("processors: stage %s has relay outputs but no table", name))
	}
	s.Outputs = append(s.Outputs, relayOutputs...)
	return s
}

// Stage returns the stage called name.
func (t Topology) Stage(name string) (Stage, bool) {
	i := slices.IndexFunc(t.Stages, func(s Stage) bool { return s.Name == name })
	if i < 0 {
		return Stage{}, false
	}
	return t.Stages[i], true
}

// StageNames are the stages' names, upstream first.
func (t Topology) StageNames() []string {
	names := make([]string, len(t.Stages))
	for i, s := range t.Stages {
		names[i] = s.Name
	}
	return names
}

// ConsumerGroups lists the pipeline's consumer groups in stage order: each
// goka group with its inputs (its loopback topic carries ticks all the
// time and is left out) and each relay with its table's changelog.
func (t Topology) ConsumerGroups() []ConsumerGroup {
	var out []ConsumerGroup
	for _, s := range t.Stages {
		topics := []string{s.Input}
		if s.Rekeyed != "" {
			topics = append(topics, s.Rekeyed)
		}
		out = append(out, ConsumerGroup{Group: s.Group, Topics: topics})
		if s.Relay != "" {
			out = append(out, ConsumerGroup{Group: s.Relay, Topics: []string{s.Table}})
		}
	}
	return out
}

// Stages lists the graph's stages, upstream first (Topology().Stages).
func (c Config) Stages() []Stage { return c.Topology().Stages }

// ConsumerGroups lists the pipeline's consumer groups in stage order
// (Topology().ConsumerGroups()).
func (c Config) ConsumerGroups() []ConsumerGroup { return c.Topology().ConsumerGroups() }

// AllStageNames are the names of every stage either layout has (Config.Run
// and --groups take them), upstream first.
func AllStageNames() []string { return []string{StageIngest, StageWindows} }

// ResolveLayout returns cfg with InputPartitions set from the input
// topic's partition count when the topic exists with another count than
// the pipeline's, which decides the layout (Topology). A missing input
// topic is created with the pipeline's count, so it is the direct layout.
// When cfg.Partitions is not set (a tool that reads a deployment, like
// turnstile status), the pipeline's count is that of the windowed stage's
// table or readings topic if they exist.
func ResolveLayout(ctx context.Context, adm *kadm.Client, cfg Config) (Config, error) {
	infer := cfg.Partitions == 0
	cfg.Defaults()
	st, _ := cfg.Topology().Stage(StageWindows)
	table := st.Table
	topics, err := adm.ListTopics(ctx, cfg.Topics.Input, cfg.Topics.Readings, table)
	if err != nil {
		return cfg, fmt.Errorf("processors: list topic %s: %w", cfg.Topics.Input, err)
	}
	count := func(t string) int {
		if d, ok := topics[t]; ok && d.Err == nil {
			return len(d.Partitions)
		}
		return 0
	}
	if infer {
		if n := max(count(table), count(cfg.Topics.Readings)); n > 0 {
			cfg.Partitions = n
		}
	}
	cfg.InputPartitions = 0
	if n := count(cfg.Topics.Input); n > 0 && n != cfg.Partitions {
		cfg.InputPartitions = n
	}
	return cfg, nil
}
