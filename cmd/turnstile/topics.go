package main

import (
	"github.com/spf13/pflag"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// topicFlags name the pipeline's topics.
type topicFlags struct {
	t processors.Topics
}

func (f *topicFlags) register(fs *pflag.FlagSet) {
	d := processors.DefaultTopics()
	fs.StringVar(&f.t.Input, "input-topic", d.Input, "topic of turnstile readings (Avro TurnstileReading)")
	fs.StringVar(&f.t.DeviceWindows, "device-topic", d.DeviceWindows, "topic of closed device windows (Avro TurnstileWindow)")
	fs.StringVar(&f.t.StationWindows, "station-topic", d.StationWindows, "topic of closed station windows (Avro StationWindow)")
	fs.StringVar(&f.t.DeadLetters, "dlq-topic", d.DeadLetters, "dead-letter topic for rejected input records")
	fs.StringVar(&f.t.Late, "late-topic", d.Late, "topic of readings too late for any retained window")
	fs.StringVar(&f.t.Readings, "readings-topic", d.Readings, "internal topic of validated readings keyed by device")
	fs.StringVar(&f.t.StationUpdates, "station-updates-topic", d.StationUpdates, "internal topic of device window revisions keyed by station")
	fs.StringVar(&f.t.Generations, "generations-topic", d.Generations, "internal topic recording the current generation (turnstile replay)")
}

func (f *topicFlags) schemaTopics() schemas.Topics { return f.t.Topics }
