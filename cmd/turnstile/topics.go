package main

import (
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// topicFlags name the pipeline's topics. A command registers only the
// topics it reads or writes; the others keep their defaults.
type topicFlags struct {
	t processors.Topics
}

// Topic flag names, for register.
const (
	flagInputTopic       = "input-topic"
	flagDeviceTopic      = "device-topic"
	flagStationTopic     = "station-topic"
	flagDLQTopic         = "dlq-topic"
	flagLateTopic        = "late-topic"
	flagReadingsTopic    = "readings-topic"
	flagGenerationsTopic = "generations-topic"
)

// allTopicFlags are every topic flag, in the order the help lists them.
var allTopicFlags = []string{flagInputTopic, flagDeviceTopic, flagStationTopic, flagDLQTopic, flagLateTopic,
	flagReadingsTopic, flagGenerationsTopic}

// register registers the named topic flags (none named: all of them).
func (f *topicFlags) register(fs *pflag.FlagSet, names ...string) {
	f.t = processors.DefaultTopics()
	d := f.t
	all := []struct {
		name  string
		dst   *string
		def   string
		usage string
	}{
		{flagInputTopic, &f.t.Input, d.Input, "topic of turnstile readings (Avro TurnstileReading)"},
		{flagDeviceTopic, &f.t.DeviceWindows, d.DeviceWindows, "topic of closed device windows (Avro TurnstileWindow)"},
		{flagStationTopic, &f.t.StationWindows, d.StationWindows, "topic of closed station windows (Avro StationWindow)"},
		{flagDLQTopic, &f.t.DeadLetters, d.DeadLetters, "dead-letter topic for rejected input records"},
		{flagLateTopic, &f.t.Late, d.Late, "topic of readings too late for any retained window"},
		{flagReadingsTopic, &f.t.Readings, d.Readings, "internal topic of validated readings re-keyed by station and device"},
		{flagGenerationsTopic, &f.t.Generations, d.Generations, "internal topic recording the current generation (turnstile replay)"},
	}
	if len(names) == 0 {
		names = allTopicFlags
	}
	for _, n := range names {
		for _, t := range all {
			if t.name == n {
				fs.StringVar(t.dst, t.name, t.def, t.usage)
			}
		}
	}
}

func (f *topicFlags) schemaTopics() schemas.Topics { return f.t.Topics }

// layoutFlags size the topics a command creates (process, dev, produce,
// topics create): the same flags, so they create the same topics.
type layoutFlags struct {
	partitions, replication int
}

func (l *layoutFlags) register(fs *pflag.FlagSet) {
	var d processors.Config
	d.Defaults()
	fs.IntVar(&l.partitions, "partitions", d.Partitions, "partitions of the topics the pipeline creates (the most members a group can use)")
	fs.IntVar(&l.replication, "replication", d.Replication, "replication factor of the topics the pipeline creates")
}

// pipeline is the pipeline configuration whose topic specs these flags
// give (processors.Config.TopicSpecs).
func (l *layoutFlags) pipeline(topics processors.Topics) processors.Config {
	cfg := processors.Config{Topics: topics, Partitions: l.partitions, Replication: l.replication}
	cfg.Defaults()
	return cfg
}
