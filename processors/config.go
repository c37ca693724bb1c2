package processors

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/windows"
)

// Topics names every topic of the graph.
type Topics struct {
	schemas.Topics
	// Readings is the internal readings topic the ingest stage re-keys to,
	// keyed by reading key (schemas.ReadingKey: station, then device).
	Readings string
	// Generations records the current generation (see Generation).
	Generations string
}

// DefaultTopics are the topic names used unless configured otherwise.
func DefaultTopics() Topics {
	return Topics{Topics: schemas.DefaultTopics(), Readings: "turnstile-readings", Generations: "turnstile-generations"}
}

// Groups names the goka groups. A group's table topic is "<group>-table"
// and its loopback topic "<group>-loop" (goka's naming); its relay's
// consumer group is "<group>-relay".
type Groups struct {
	Ingest  string
	Windows string
}

// DefaultGroups are the group names used unless configured otherwise.
func DefaultGroups() Groups {
	return Groups{Ingest: "turnstile-ingest", Windows: "turnstile-windows"}
}

// Stage names for Config.Run.
const (
	StageIngest  = "ingest"
	StageWindows = "windows"
)

// DefaultMarkInterval is Config.MarkInterval's default.
const DefaultMarkInterval = 50 * time.Millisecond

// Config configures the processors of one member.
type Config struct {
	// Brokers and Sarama reach Kafka for goka (Sarama applies TLS/SASL);
	// KafkaOpts do the same for franz-go (relays, ticks, admin).
	Brokers   []string
	Sarama    func(*sarama.Config) error
	KafkaOpts []kgo.Opt
	// Registry is the Schema Registry client for the Avro topics.
	Registry srclient.ISchemaRegistryClient

	// Topics names the topics the pipeline reads and writes (default
	// DefaultTopics); Groups its goka groups, whose names make their table,
	// loopback and relay names (default DefaultGroups). Every member of a
	// pipeline must use the same names.
	Topics Topics
	Groups Groups
	// Run lists the stages this member runs (StageIngest, StageWindows);
	// empty means every stage of the layout. A stage the layout does not
	// have is ignored; Run fails when none is left.
	Run []string

	// Partitions is the partition count of every topic the pipeline
	// creates, and the ceiling on members that get work (default 6).
	// Replication is the replication factor of the topics it creates
	// (default 1).
	Partitions  int
	Replication int
	// InputPartitions is the input topic's partition count when it exists
	// with another count than Partitions (0: the pipeline's). It decides
	// the layout (see Topology): Run finds it out; ResolveLayout does for
	// other callers.
	InputPartitions int
	// MinCompactionLag protects changelog records until the relays have read
	// them (see package emitter).
	MinCompactionLag time.Duration

	// Window is every window's length (default 5m); Slide how far apart
	// windows start (0: Window, tumbling windows). Both are validated by
	// windows.NewSpec or windows.NewLocalSpec.
	Window, Slide time.Duration
	// Grace is how long past a window's end its partition's watermark
	// must be before the window closes and is published (default Window).
	// Retention is how far behind the watermark a reading may still be: a
	// reading for a closed window within it is a correction, republishing
	// the windows it changes; an older one goes to the late topic. It must
	// cover Window + Grace (default 24h); a replay's generation may record
	// its own of both (see Generation).
	Grace, Retention time.Duration
	// Counters says whether ENTRIES and EXITS are the turnstile's
	// cumulative registers (windows.Cumulative, the default, as MTA
	// publishes them) or per-reading increments (windows.Increment).
	Counters windows.CounterMode
	// MaxDelta is the largest increment between two cumulative readings
	// counted as riders (default 10,000); a larger or negative one is a
	// counter reset or glitch and counts nothing.
	MaxDelta int64
	// Emit is windows.EmitFinal (default: a window is published once, when
	// it closes) or windows.EmitUpdates (also on every change while open).
	Emit windows.EmitMode
	// WindowAlign: windows.AlignEpoch (default: window starts are
	// multiples of the slide since the Unix epoch) or windows.AlignLocal
	// (local midnight in TimeZone plus multiples of the slide on the wall
	// clock, through daylight saving time; the slide must divide 24h).
	WindowAlign windows.Alignment
	// TimeZone is the zone of the data's local dates and times (default
	// America/New_York, the MTA's, schemas.DefaultLocation): the DATE and
	// TIME of every published device window are its END's local date and
	// clock in it, as the warehouse has them, and WindowAlign local aligns
	// windows to its midnights. Event times are instants whatever it is.
	TimeZone *time.Location
	// IdleTimeout, when positive, marks an input partition that is caught
	// up and has received nothing for that long idle: it stops holding the
	// watermark back until it has data again, and once every input
	// partition is idle the last windows with data close. 0 never marks a
	// partition idle: a silent one then holds every window back.
	IdleTimeout time.Duration
	// InputEndGroup is the consumer group whose committed offsets declare
	// where a producer's bounded input ended (default
	// schemas.InputEndGroup, where turnstile produce declares it): an
	// input partition whose declared end is its end offset is idle as
	// soon as it is caught up, without waiting IdleTimeout (which must
	// still be positive: 0 never marks a partition idle).
	InputEndGroup string
	// MarkInterval throttles the watermark marks of the stage that reads
	// the input (the windowed stage in the direct layout, the ingest stage
	// otherwise) while it reads a live stream: a busy input partition
	// sends its mark to every readings partition (re-keyed ones; in place,
	// the windowed stage's own) at most this often, and only when its time
	// reached a later window close (default 50ms, DefaultMarkInterval;
	// ticks flush the rest). In a live stream windows close minutes apart,
	// so each close is marked at once; the throttle bounds a busy
	// partition's marks, and a window's close waits up to one interval for
	// the mark that passes it. make bench's latency phase at 100,000
	// readings/s, alternating in one session: 100ms gave a p99 close
	// latency of 248/178/267 ms, 50ms 119/168/177 ms.
	MarkInterval time.Duration
	// CatchUpMarkInterval is the throttle while the partition reads
	// records appended over a second ago: a backlog (a catch-up after
	// downtime, a replay), where no one waits for a close and each mark
	// costs the write of the devices it covers (default twice
	// MarkInterval). At 1 M readings of backlog, marks every 50ms cost
	// ~7 % more bytes allocated per reading than every 100ms (4,600
	// against 4,300).
	CatchUpMarkInterval time.Duration
	// AlignDrift is watermark alignment (the direct layout): a partition
	// whose input runs more than this much event time ahead of its
	// watermark, while the input partition holding the watermark back
	// still has input to read, stops fetching until within half of it
	// (watermark.Align). Everything above a watermark is kept and
	// rewritten with each reading, so in a catch-up this bounds the state
	// the faster partitions pile up; a live stream's partitions are
	// seconds apart and never pause. Default DefaultAlignDrift; negative:
	// off.
	AlignDrift time.Duration
	// WriteBehindKeys is how many devices a partition of the windowed
	// stage may hold written only in memory: a reading updates its device
	// there, and the device goes to the store and the changelog at the
	// partition's next flush (its next watermark mark, a close that
	// needs it, a tick, or when it holds this many), once for all the
	// readings it got
	// meanwhile, as Kafka Streams' record cache does. Default
	// DefaultWriteBehindKeys; negative: every reading is written through.
	WriteBehindKeys int
	// TickInterval is how often each member sends ticks (default
	// DefaultTickInterval). Once every source is idle, the last windows
	// close on the tick after their idle marks: the interval is most of
	// the delay between a finished stream's last reading and its last
	// windows.
	TickInterval time.Duration
	// MaxFuture is how far ahead of the wall clock an event time may be
	// before the reading is dead-lettered (0: codecs.DefaultMaxFuture, a
	// day; negative: no limit).
	MaxFuture time.Duration

	// Generation stamps every published window (see turnstile replay).
	Generation int32

	// State configures the member's Pebble stores (directory, memory);
	// State.Dir is required. Run sets its Changelog.
	State state.Options
	// HotStandby makes the windowed stage keep a replica of the
	// partitions it does not own up to date (goka.WithHotStandby), so a
	// rebalance hands a partition to a member that needs no recovery.
	HotStandby bool
	// SessionTimeout bounds how long a member that died without leaving
	// keeps its partitions (goka groups and relays alike); heartbeats go
	// at a third of it. Default 10s; brokers enforce a minimum (6s).
	SessionTimeout time.Duration

	// Logger receives the member's logs, goka's and Pebble's included
	// (default: discarded).
	Logger *slog.Logger
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Topics == (Topics{}) {
		c.Topics = DefaultTopics()
	}
	if c.Topics.Generations == "" {
		c.Topics.Generations = DefaultTopics().Generations
	}
	if c.Groups == (Groups{}) {
		c.Groups = DefaultGroups()
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.Replication == 0 {
		c.Replication = 1
	}
	if c.MinCompactionLag == 0 {
		c.MinCompactionLag = time.Hour
	}
	if c.Window == 0 {
		c.Window = 5 * time.Minute
	}
	if c.Grace == 0 {
		c.Grace = c.Window
	}
	if c.WindowAlign == "" {
		c.WindowAlign = windows.AlignEpoch
	}
	if c.TimeZone == nil {
		c.TimeZone = schemas.DefaultLocation()
	}
	if c.Retention == 0 {
		c.Retention = 24 * time.Hour
	}
	if c.Counters == "" {
		c.Counters = windows.Cumulative
	}
	if c.MaxDelta == 0 {
		c.MaxDelta = 10000
	}
	if c.Emit == "" {
		c.Emit = windows.EmitFinal
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.InputEndGroup == "" {
		c.InputEndGroup = schemas.InputEndGroup
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.MarkInterval == 0 {
		c.MarkInterval = DefaultMarkInterval
	}
	if c.CatchUpMarkInterval == 0 {
		c.CatchUpMarkInterval = 2 * c.MarkInterval
	}
	if c.AlignDrift == 0 {
		c.AlignDrift = DefaultAlignDrift
	}
	if c.WriteBehindKeys == 0 {
		c.WriteBehindKeys = DefaultWriteBehindKeys
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// rules validates the window settings.
func (c *Config) rules() (*windows.Rules, error) {
	var w windows.Spec
	var err error
	switch c.WindowAlign {
	case windows.AlignEpoch:
		w, err = windows.NewSpec(c.Window, c.Slide)
	case windows.AlignLocal:
		w, err = windows.NewLocalSpec(c.Window, c.Slide, c.TimeZone)
	default:
		err = fmt.Errorf("processors: window alignment must be %s or %s, got %q", windows.AlignEpoch, windows.AlignLocal, c.WindowAlign)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case c.Counters != windows.Cumulative && c.Counters != windows.Increment:
		return nil, fmt.Errorf("processors: counters must be %s or %s, got %q", windows.Cumulative, windows.Increment, c.Counters)
	case c.Emit != windows.EmitFinal && c.Emit != windows.EmitUpdates:
		return nil, fmt.Errorf("processors: emit must be %s or %s, got %q", windows.EmitFinal, windows.EmitUpdates, c.Emit)
	case c.Grace < 0:
		return nil, errors.New("processors: grace must not be negative")
	case c.Retention < c.Window+c.Grace:
		return nil, fmt.Errorf("processors: retention %v must cover window + grace (%v)", c.Retention, c.Window+c.Grace)
	case c.MaxDelta <= 0:
		return nil, errors.New("processors: max-delta must be positive")
	}
	return &windows.Rules{Windows: w, Grace: c.Grace.Milliseconds(), Retention: c.Retention.Milliseconds(),
		Counters: c.Counters, MaxDelta: c.MaxDelta, Emit: c.Emit}, nil
}

// Direct says whether the windowed stage reads the input topic itself:
// the input has the pipeline's partition count (see Topology).
func (c Config) Direct() bool {
	c.Defaults()
	return c.InputPartitions == 0 || c.InputPartitions == c.Partitions
}

func (c *Config) runs(stage string) bool {
	if len(c.Run) == 0 {
		return true
	}
	for _, s := range c.Run {
		if s == stage {
			return true
		}
	}
	return false
}
