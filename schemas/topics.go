package schemas

// Default topic names.
const (
	DefaultInputTopic          = "mta-turnstile"
	DefaultDeviceWindowsTopic  = "mta-turnstile-windows"
	DefaultStationWindowsTopic = "mta-station-windows"
	DefaultDeadLetterTopic     = "mta-turnstile-dlq"
	DefaultLateTopic           = "mta-turnstile-late"
)

// InputEndGroup is the consumer group in which a producer declares that
// its input is complete: when a bounded source (a file, a --limit) has
// been written, the producer commits there, per partition of the input
// topic it wrote, the offset after its last record. A pipeline that finds
// a partition's declared end equal to the partition's end offset, and has
// consumed up to it, counts that partition idle at once instead of after
// its idle timeout (Flink's bounded sources end with a final watermark the
// same way). No consumer ever joins the group; it only holds offsets.
const InputEndGroup = "turnstile-input-end"

// Topics names the pipeline's topics. The zero value means "all defaults";
// see [Topics.Defaults].
type Topics struct {
	Input          string // readings (TurnstileReading)
	DeviceWindows  string // closed device windows (TurnstileWindow)
	StationWindows string // closed station windows (StationWindow)
	DeadLetters    string // rejected records: original bytes plus headers, no schema
	Late           string // readings too late for their window (TurnstileReading)
}

// DefaultTopics returns the default topic names.
func DefaultTopics() Topics {
	return Topics{
		Input:          DefaultInputTopic,
		DeviceWindows:  DefaultDeviceWindowsTopic,
		StationWindows: DefaultStationWindowsTopic,
		DeadLetters:    DefaultDeadLetterTopic,
		Late:           DefaultLateTopic,
	}
}

// Defaults replaces every empty name by its default.
func (t *Topics) Defaults() {
	d := DefaultTopics()
	if t.Input == "" {
		t.Input = d.Input
	}
	if t.DeviceWindows == "" {
		t.DeviceWindows = d.DeviceWindows
	}
	if t.StationWindows == "" {
		t.StationWindows = d.StationWindows
	}
	if t.DeadLetters == "" {
		t.DeadLetters = d.DeadLetters
	}
	if t.Late == "" {
		t.Late = d.Late
	}
}

// Subject returns the TopicNameStrategy value subject of a topic: "<topic>-value".
func Subject(topic string) string { return topic + "-value" }

// Registration is one (subject, schema) pair to register.
type Registration struct {
	Subject string
	Schema  Schema
}

// Registrations lists the (subject, schema) pairs of the pipeline, in the
// order they must be registered (older reading versions first, so that the
// newest is the subject's latest):
//
//   - <Input>-value: TurnstileReading v1, v2
//   - <Late>-value: TurnstileReading v1, v2 (same schemas, hence the same
//     ids, so late readings can be forwarded byte for byte)
//   - <DeviceWindows>-value: TurnstileWindow
//   - <StationWindows>-value: StationWindow
//
// The dead-letter topic has no subject: it carries the rejected bytes as they
// arrived. Empty topic names take their defaults.
func (t Topics) Registrations() []Registration {
	t.Defaults()
	var out []Registration
	for _, topic := range []string{t.Input, t.Late} {
		for _, v := range ReadingVersions() {
			s, err := ReadingSchema(v)
			if err != nil {
				continue // unreachable: versions come from the catalogue
			}
			out = append(out, Registration{Subject: Subject(topic), Schema: s})
		}
	}
	out = append(out,
		Registration{Subject: Subject(t.DeviceWindows), Schema: DeviceWindowSchema()},
		Registration{Subject: Subject(t.StationWindows), Schema: StationWindowSchema()},
	)
	return out
}
