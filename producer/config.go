package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// SourceKind selects where readings come from.
type SourceKind string

// Sources.
const (
	// SourceSynthetic generates a live stream from the embedded station
	// reference (the default).
	SourceSynthetic SourceKind = "synthetic"
	// SourceCSV replays an MTA weekly file.
	SourceCSV SourceKind = "csv"
)

// Order is the order in which a CSV replay sends its rows.
type Order string

// CSV orders.
const (
	// OrderEvent sends rows by event time (DATE+TIME), ties in file order
	// (the default).
	OrderEvent Order = "event"
	// OrderFile keeps the file's order: the MTA files are sorted by device,
	// so every device's week arrives after the previous device's, and
	// RECOVR AUD rows arrive where the MTA put them.
	OrderFile Order = "file"
	// OrderArrival is event order with RECOVR AUD rows held back by
	// CSVConfig.RecoveredDelay: recovered audits arrive late, as they do in
	// the MTA's feed.
	OrderArrival Order = "arrival"
	// OrderShuffle sends rows in a random order (Config.Seed makes it
	// repeatable): every kind of lateness at once, to check that results do
	// not depend on arrival order.
	OrderShuffle Order = "shuffle"
)

// CounterMode says what ENTRIES and EXITS carry in synthetic readings.
type CounterMode string

// Counter modes.
const (
	// CountersCumulative: cumulative registers, as the MTA reports (default).
	CountersCumulative CounterMode = "cumulative"
	// CountersIncrement: a small count per message (5..10), as the
	// original demo producer sent.
	CountersIncrement CounterMode = "increment"
)

// ProgressMode says when to draw the progress bar.
type ProgressMode string

// Progress modes.
const (
	// ProgressAuto draws it when the progress writer is a terminal (default).
	ProgressAuto ProgressMode = "auto"
	// ProgressOn always draws it.
	ProgressOn ProgressMode = "on"
	// ProgressOff never draws it.
	ProgressOff ProgressMode = "off"
)

// Config configures [Run] and [NewStream]. The zero value of every field
// means its default; the zero Config produces a live synthetic stream to
// mta-turnstile (RegistryURL and a Kafka client are still required by Run).
type Config struct {
	// Source: SourceSynthetic (default) or SourceCSV.
	Source SourceKind
	// Topic to produce to; default schemas.DefaultInputTopic.
	Topic string
	// SchemaVersion of TurnstileReading to write: 1 or 2 (default 2).
	SchemaVersion int

	// RegistryURL of the schema registry; or RegistryClient; or Codec.
	RegistryURL string
	// RegistryClient is a registry client to use instead of RegistryURL.
	RegistryClient srclient.ISchemaRegistryClient
	// Subject for the writer schema; default schemas.Subject(Topic).
	Subject string
	// LookupOnly: the schema must already be registered (see
	// codecs.Config.LookupOnly).
	LookupOnly bool
	// Codec overrides the above: a ready reading codec whose writer
	// version is used as is.
	Codec *codecs.ReadingCodec

	// Client is the Kafka client to produce with; it must have been built
	// with schemas.Partitioner() (ClientOpts does that) so that keys land
	// where goka looks for them. Run flushes it but does not close it.
	Client *kgo.Client
	// KafkaOpts build a client when Client is nil (at least
	// kgo.SeedBrokers); Run adds schemas.Partitioner() first, and closes the client.
	KafkaOpts []kgo.Opt

	// Synthetic configures the synthetic source (its defaults: see
	// SyntheticConfig).
	Synthetic SyntheticConfig
	// CSV configures the CSV replay (its defaults: see CSVConfig).
	CSV CSVConfig

	// Speed is how many seconds of event time pass per second of wall time:
	// 1 is real time, 3600 an hour per second. 0 means the source's default
	// (synthetic: 1; csv: as fast as possible); a negative value means as
	// fast as possible.
	Speed float64
	// Rate caps records per second (0: no cap).
	Rate float64
	// Limit stops after this many records (0: no limit; a CSV file ends by
	// itself, a synthetic stream runs until ctx is done or Synthetic.Duration
	// has passed).
	Limit int64

	// LateFraction of readings are held back and sent LateBy later (in event
	// time), with DESC "RECOVR AUD".
	LateFraction float64
	// LateBy is how much later, in event time, a late reading is sent
	// (default 12 h).
	LateBy time.Duration
	// DuplicateFraction of records are sent twice (same ID and bytes), the
	// copy up to a quarter interval later.
	DuplicateFraction float64
	// BadFraction of readings get an extra malformed copy: wrong magic byte
	// (a legacy CSV line), truncated, negative counter, unparsable
	// TIMESTAMP, or an empty SCP. Injected records carry the header
	// InjectedHeader naming what was done, so tests can count them.
	BadFraction float64

	// Seed makes the stream deterministic: the same Config (with a fixed
	// Synthetic.Start) gives the same records, byte for byte.
	Seed int64

	// Resume, for the synthetic source, continues after what Topic
	// already holds (turnstile dev sets it, so a restarted demo is not
	// behind its own stored state): before sending, Run reads the tail of
	// every partition (FindResumePoint), starts the synthetic clock at the
	// interval after the newest event time found when that is later than
	// Synthetic.Start, and continues each device from its last registers.
	// It needs KafkaOpts.
	Resume bool

	// EventTimeAsRecordTime sets each Kafka record's timestamp to the
	// reading's event time instead of the produce time. Beware of time-based
	// retention when replaying old data.
	EventTimeAsRecordTime bool

	// EndGroup, when set, is where Run declares that its input is
	// complete once the source has ended (a file, Limit, a synthetic
	// Duration) and every record was acknowledged: it commits, for each
	// partition it wrote, the offset after its last record to this
	// consumer group (turnstile produce: schemas.InputEndGroup), and 0 for
	// each partition of the topic that is still empty. A
	// pipeline then counts such a partition idle as soon as it has
	// consumed it, instead of after its idle timeout, as long as nothing
	// else was written there since. A run that was stopped, or lost
	// records, declares nothing; a declaration that fails (for instance
	// no authorization on the group) is logged, not an error of the run.
	EndGroup string

	// Progress: ProgressAuto (default), ProgressOn or ProgressOff.
	Progress ProgressMode
	// ProgressWriter is where the progress bar is drawn (default
	// os.Stderr).
	ProgressWriter io.Writer
	// ConnectTimeout is how long Run waits for Kafka to answer before it
	// sends anything (0: 10 s; a broker that is starting answers within
	// it, and a wrong address is reported without keeping the user
	// waiting). Errors that waiting cannot fix (TLS verification, TLS
	// missing, SASL or authorization refusals) fail at once. Once running,
	// an unreachable broker is retried without limit.
	ConnectTimeout time.Duration
	// Prepare, when set, runs once Kafka answers and before the first
	// record, with the client Run produces with; an error ends Run with
	// nothing sent. turnstile produce creates the topic there if it is
	// missing (package provision).
	Prepare func(ctx context.Context, cl *kgo.Client) error
	// Logger receives a line at start and at the end; nil discards.
	Logger *slog.Logger
	// Clock paces the stream; nil is the wall clock. Tests use a fake.
	Clock Clock
}

// SyntheticConfig configures the synthetic source.
type SyntheticConfig struct {
	// Start is the event time of the first interval, truncated to Interval.
	// Default: now truncated to Interval when Speed is 1 (a live stream);
	// otherwise a week before that, so a stream running faster than the
	// wall clock stays in the past for a while (processors reject event
	// times too far in the future).
	Start time.Time
	// Duration stops the stream at Start+Duration of event time (0: never).
	Duration time.Duration
	// Interval between two readings of a device; default 4 h, as the MTA.
	Interval time.Duration
	// DevicesPerBooth fixes the number of SCP devices per booth; 0 draws 2
	// to 4 per booth.
	DevicesPerBooth int
	// MaxBooths uses only the first MaxBooths booths of the station
	// reference (0: all 768).
	MaxBooths int
	// Counters: CountersCumulative (default) or CountersIncrement.
	Counters CounterMode
	// ResetFraction of cumulative readings reset the device's registers to a
	// small value, as real counters occasionally do (default 0).
	ResetFraction float64
	// SourceLabel is the v2 SOURCE value; default "synthetic".
	SourceLabel string

	// from are the registers devices continue from (Config.Resume).
	from map[string]Registers
}

// CSVConfig configures the CSV replay.
type CSVConfig struct {
	// Path of an MTA weekly file, plain or gzip (detected by content).
	Path string
	// Order: OrderEvent (default), OrderFile, OrderArrival or OrderShuffle.
	Order Order
	// RecoveredDelay holds RECOVR AUD rows back in OrderArrival; default 8 h.
	RecoveredDelay time.Duration
	// SourceLabel is the v2 SOURCE value; default "csv:<file name>".
	SourceLabel string
	// TimeZone is the zone of the file's DATE and TIME (default
	// America/New_York, the MTA's: schemas.DefaultLocation). A reading's
	// event time (EVENT_TIME, TIMESTAMP) is the instant its DATE and TIME
	// stand for there, read row by row in file order before Order sorts
	// them; DATE and TIME are sent as the file has them. A clock reading in
	// the hour the clocks go back over is the first pass (daylight time)
	// until its device's readings in that hour go back or repeat in file
	// order, the second pass from then on; one in the hour the clocks skip
	// is read with the offset before the transition (02:30 on 2024-03-10
	// in New York is 07:30 UTC).
	TimeZone *time.Location
}

// DefaultConnectTimeout is Config.ConnectTimeout's default.
const DefaultConnectTimeout = 10 * time.Second

// InjectedHeader is the Kafka header set on injected records; its value is
// an Injection.
const InjectedHeader = "turnstile-injected"

// Defaults fills zero fields (ConnectTimeout also when negative), except
// Synthetic.Start: its default is relative to when the stream starts, so
// Run and NewStream fill it (see SyntheticConfig.Start).
func (c *Config) Defaults() {
	if c.Source == "" {
		c.Source = SourceSynthetic
	}
	if c.Topic == "" {
		c.Topic = schemas.DefaultInputTopic
	}
	if c.Subject == "" {
		c.Subject = schemas.Subject(c.Topic)
	}
	if c.SchemaVersion == 0 {
		c.SchemaVersion = schemas.LatestReadingVersion
	}
	if c.Speed == 0 && c.Source == SourceSynthetic {
		c.Speed = 1
	}
	if c.LateBy == 0 {
		c.LateBy = 12 * time.Hour
	}
	if c.Progress == "" {
		c.Progress = ProgressAuto
	}
	if c.ProgressWriter == nil {
		c.ProgressWriter = os.Stderr
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	s := &c.Synthetic
	if s.Interval == 0 {
		s.Interval = 4 * time.Hour
	}
	if s.Counters == "" {
		s.Counters = CountersCumulative
	}
	if s.SourceLabel == "" {
		s.SourceLabel = "synthetic"
	}
	v := &c.CSV
	if v.Order == "" {
		v.Order = OrderEvent
	}
	if v.RecoveredDelay == 0 {
		v.RecoveredDelay = 8 * time.Hour
	}
	if v.TimeZone == nil {
		v.TimeZone = schemas.DefaultLocation()
	}
	if v.SourceLabel == "" && v.Path != "" {
		v.SourceLabel = "csv:" + filepath.Base(v.Path)
	}
}

// validate checks a Config whose defaults are filled.
func (c *Config) validate() error {
	if c.Source != SourceSynthetic && c.Source != SourceCSV {
		return fmt.Errorf("producer: unknown source %q", c.Source)
	}
	if _, err := schemas.ReadingSchema(c.SchemaVersion); err != nil {
		return fmt.Errorf("producer: schema version %d: %w", c.SchemaVersion, err)
	}
	for name, f := range map[string]float64{"LateFraction": c.LateFraction, "DuplicateFraction": c.DuplicateFraction,
		"BadFraction": c.BadFraction, "Synthetic.ResetFraction": c.Synthetic.ResetFraction} {
		if f < 0 || f > 1 {
			return fmt.Errorf("producer: %s %v is not in [0, 1]", name, f)
		}
	}
	if c.Rate < 0 || c.Limit < 0 {
		return errors.New("producer: Rate and Limit must not be negative")
	}
	if c.LateBy < 0 {
		return errors.New("producer: LateBy must be positive")
	}
	s := &c.Synthetic
	if s.Interval < time.Second {
		return errors.New("producer: Synthetic.Interval must be at least 1s")
	}
	if s.Counters != CountersCumulative && s.Counters != CountersIncrement {
		return fmt.Errorf("producer: unknown counter mode %q", s.Counters)
	}
	if s.DevicesPerBooth < 0 || s.DevicesPerBooth > 99 || s.MaxBooths < 0 || s.Duration < 0 {
		return errors.New("producer: DevicesPerBooth must be 0..99, MaxBooths and Duration not negative")
	}
	v := &c.CSV
	if v.Order != OrderEvent && v.Order != OrderFile && v.Order != OrderArrival && v.Order != OrderShuffle {
		return fmt.Errorf("producer: unknown CSV order %q", v.Order)
	}
	if c.Source == SourceCSV && v.Path == "" {
		return errors.New("producer: CSV.Path is required for the csv source")
	}
	return nil
}

// prepared is c with its defaults filled, validated, and its synthetic
// start fixed: now truncated to the interval when Speed is 1, else a week
// before that (see SyntheticConfig.Start).
func (c Config) prepared(now time.Time) (Config, error) {
	c.Defaults()
	if err := c.validate(); err != nil {
		return c, err
	}
	s := &c.Synthetic
	if s.Start.IsZero() {
		s.Start = now.UTC().Truncate(s.Interval)
		if c.Speed != 1 {
			s.Start = s.Start.Add(-7 * 24 * time.Hour).Truncate(s.Interval)
		}
	}
	s.Start = s.Start.UTC().Truncate(s.Interval)
	return c, nil
}
