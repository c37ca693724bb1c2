package codecs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/turnstile-streams/turnstile/schemas"
)

// DefaultMaxFuture is how far past the clock a reading's event time may lie
// before it is rejected with ReasonFutureEventTime.
const DefaultMaxFuture = 24 * time.Hour

// DefaultMaxFieldBytes bounds every string field of a reading (MTA fields
// are a few dozen bytes at most): a longer one is rejected with
// ReasonInvalidField rather than carried into keys, tables and sinks.
const DefaultMaxFieldBytes = 1024

// Event times outside [EarliestEventTime, LatestEventTime] are rejected
// with ReasonInvalidField whatever MaxFuture says: the window arithmetic
// works on Unix milliseconds and must never get near int64 overflow, and a
// reading from before 1970 is a broken clock, not a late reading.
var (
	EarliestEventTime = time.Unix(0, 0).UTC()
	LatestEventTime   = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC)
)

// ReadingConfig configures a [ReadingCodec].
type ReadingConfig struct {
	Config
	// WriterVersion is the TurnstileReading version Encode writes (1 or 2;
	// 0 means schemas.LatestReadingVersion). Decoding always reads through
	// the latest version, whatever the writer's.
	WriterVersion int
	// Now is the clock for the future-event-time check; default time.Now.
	Now func() time.Time
	// MaxFuture is the allowed lead of event time over Now; 0 means
	// DefaultMaxFuture and a negative value disables the check. A producer
	// running event time faster than wall time (Speed > 1) needs a large one.
	MaxFuture time.Duration
	// MaxFieldBytes bounds the length of every string field; 0 means
	// DefaultMaxFieldBytes and a negative value disables the check.
	MaxFieldBytes int
	// SkipValidation turns off the domain checks on decode (the framing,
	// schema and Avro checks remain).
	SkipValidation bool
}

// Defaults fills zero fields, the embedded Config's included (negative
// MaxFuture and MaxFieldBytes stay: no check).
func (c *ReadingConfig) Defaults() {
	c.Config.Defaults()
	if c.WriterVersion == 0 {
		c.WriterVersion = schemas.LatestReadingVersion
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = DefaultMaxFuture
	}
	if c.MaxFieldBytes == 0 {
		c.MaxFieldBytes = DefaultMaxFieldBytes
	}
}

// validate checks the embedded Config and that WriterVersion is a
// TurnstileReading version.
func (c *ReadingConfig) validate() error {
	if err := c.Config.validate(); err != nil {
		return err
	}
	if !slices.Contains(schemas.ReadingVersions(), c.WriterVersion) {
		return fmt.Errorf("codecs: ReadingConfig.WriterVersion %d is not a TurnstileReading version %v", c.WriterVersion, schemas.ReadingVersions())
	}
	return nil
}

// ReadingCodec is a goka.Codec for TurnstileReading values in the Confluent
// wire format. Decode returns *schemas.Reading; Encode accepts
// schemas.Reading or *schemas.Reading. It is safe for concurrent use.
//
// A decoded reading's strings may share one copy of the record's bytes
// (the direct decoder's single allocation): a caller that keeps one field
// long after the reading (in state, a cache) should keep a copy
// (strings.Clone) rather than pin the whole record, as windows.Device does.
type ReadingCodec struct {
	e       *engine
	setters []func(*schemas.Reading, flatValue)
	// enc writes readings without goavro (nil: the writer schema needs
	// goavro; reading_encode.go).
	enc       []readingEncField
	now       func() time.Time
	maxFuture time.Duration
	maxField  int
	validate  bool
}

// NewReadingCodec builds a reading codec. It does not contact the registry:
// the writer id is resolved on the first Encode (or by Prepare) and writer
// schemas are fetched on the first Decode of each id.
func NewReadingCodec(cfg ReadingConfig) (*ReadingCodec, error) {
	cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ws, err := schemas.ReadingSchema(cfg.WriterVersion)
	if err != nil {
		return nil, fmt.Errorf("codecs: writer version: %w", err)
	}
	e, err := newEngine(cfg.Config, schemas.LatestReadingSchema().Text, ws.Text)
	if err != nil {
		return nil, err
	}
	setters, err := bindSetters(e.reader, readingSetters())
	if err != nil {
		return nil, err
	}
	wt, err := parseSchema(ws.Text)
	if err != nil {
		return nil, fmt.Errorf("codecs: writer schema: %w", err)
	}
	return &ReadingCodec{e: e, setters: setters, enc: newReadingEncoder(wt), now: cfg.Now, maxFuture: cfg.MaxFuture,
		maxField: cfg.MaxFieldBytes, validate: !cfg.SkipValidation}, nil
}

// Subject returns the codec's subject.
func (c *ReadingCodec) Subject() string { return c.e.subject }

// Prepare resolves the writer schema id now (register-or-lookup under the
// subject) instead of on the first Encode, and returns it.
func (c *ReadingCodec) Prepare(ctx context.Context) (int, error) { return c.e.id(ctx) }

// Encode encodes a schemas.Reading or *schemas.Reading. It does not apply
// the domain checks: a producer may deliberately send bad readings.
func (c *ReadingCodec) Encode(value any) ([]byte, error) {
	switch r := value.(type) {
	case *schemas.Reading:
		if r == nil {
			return nil, errors.New("codecs: encode nil *schemas.Reading")
		}
		return c.EncodeReading(r)
	case schemas.Reading:
		return c.EncodeReading(&r)
	default:
		return nil, fmt.Errorf("codecs: reading codec cannot encode %T", value)
	}
}

// EncodeReading encodes one reading with the writer schema: straight into
// Avro binary when the writer schema allows it (reading_encode.go), else
// through goavro.
func (c *ReadingCodec) EncodeReading(r *schemas.Reading) ([]byte, error) {
	if c.enc == nil {
		return c.e.encode(ReadingNative(r))
	}
	buf, err := c.e.header()
	if err != nil {
		return nil, err
	}
	return appendReading(buf, c.enc, r), nil
}

// Decode decodes a payload into a *schemas.Reading. Errors are
// *RejectError (never decodable: dead-letter it) or retryable
// (errors.Is(err, ErrRegistryUnavailable): wait and retry).
func (c *ReadingCodec) Decode(data []byte) (any, error) {
	r, err := c.DecodeReading(data)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeReading is Decode without the interface conversion.
func (c *ReadingCodec) DecodeReading(data []byte) (schemas.Reading, error) {
	r, _, err := c.DecodeReadingTime(data)
	return r, err
}

// DecodeReadingTime is DecodeReading returning the reading's event time
// too (schemas.Reading.ParseEventTime), parsed once with the validation.
// Without validation the time is zero.
func (c *ReadingCodec) DecodeReadingTime(data []byte) (schemas.Reading, time.Time, error) {
	var r schemas.Reading
	et, err := c.DecodeReadingInto(data, &r)
	if err != nil {
		return schemas.Reading{}, time.Time{}, err
	}
	return r, et, nil
}

// DecodeReadingInto is DecodeReadingTime into a reading the caller owns,
// so a caller decoding record after record reuses one (the decoded value
// of a local would escape to the heap). r is overwritten; after an error
// its contents are unspecified.
func (c *ReadingCodec) DecodeReadingInto(data []byte, r *schemas.Reading) (time.Time, error) {
	*r = schemas.Reading{}
	id, err := decodeRecord(c.e, data, r, c.setters)
	if err != nil {
		return time.Time{}, err
	}
	if !c.validate {
		return time.Time{}, nil
	}
	if c.maxField > 0 {
		if err := validateLengths(r, c.maxField); err != nil {
			return time.Time{}, fieldReject(c.e, id, ReasonInvalidField, err)
		}
	}
	et, err := r.ValidateTime()
	if err != nil {
		return time.Time{}, fieldReject(c.e, id, ReasonInvalidField, err)
	}
	field := "TIMESTAMP"
	if !r.EventTime.IsZero() {
		field = "EVENT_TIME"
	}
	outOfRange := func() error {
		return &RejectError{Reason: ReasonInvalidField, SchemaID: id, Subject: c.e.subject, Field: field,
			Detail: fmt.Sprintf("event time %s is outside %s..%s", fmtTime(et), fmtTime(EarliestEventTime), fmtTime(LatestEventTime))}
	}
	if et.Before(EarliestEventTime) {
		return time.Time{}, outOfRange()
	}
	if c.maxFuture > 0 {
		if limit := c.now().Add(c.maxFuture); et.After(limit) {
			return time.Time{}, &RejectError{Reason: ReasonFutureEventTime, SchemaID: id, Subject: c.e.subject, Field: field,
				Detail: fmt.Sprintf("event time %s is after %s", fmtTime(et), fmtTime(limit))}
		}
	}
	if et.After(LatestEventTime) {
		return time.Time{}, outOfRange()
	}
	return et, nil
}

// fmtTime formats t like RFC 3339, also outside years 0..9999 (where
// time.Format would print a string RFC 3339 cannot hold).
func fmtTime(t time.Time) string {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return fmt.Sprintf("year %d (%d ms since 1970)", y, t.UnixMilli())
	}
	return t.Format(time.RFC3339)
}

// validateLengths rejects any string field longer than max bytes.
func validateLengths(r *schemas.Reading, max int) error {
	for _, f := range []struct{ name, v string }{
		{"CA", r.CA}, {"UNIT", r.Unit}, {"SCP", r.SCP}, {"STATION", r.Station}, {"LINENAME", r.LineName},
		{"DIVISION", r.Division}, {"DATE", r.Date}, {"TIME", r.Time}, {"DESC", r.Desc}, {"ID", r.ID},
		{"TIMESTAMP", r.Timestamp}, {"SOURCE", r.Source},
	} {
		if len(f.v) > max {
			return &schemas.FieldError{Field: f.name, Value: f.v[:min(32, len(f.v))] + "...",
				Reason: fmt.Sprintf("%d bytes, longer than the %d allowed", len(f.v), max)}
		}
	}
	return nil
}

func fieldReject(e *engine, id int, reason Reason, err error) *RejectError {
	re := &RejectError{Reason: reason, SchemaID: id, Subject: e.subject, Detail: err.Error(), Err: err}
	var fe *schemas.FieldError
	if errors.As(err, &fe) {
		re.Field = fe.Field
	}
	return re
}

// ReadingNative returns the goavro native form of a reading (a map by Avro
// field name, fitting every TurnstileReading version: fields a version lacks
// are ignored by goavro).
func ReadingNative(r *schemas.Reading) map[string]any {
	m := map[string]any{
		"CA": r.CA, "UNIT": r.Unit, "SCP": r.SCP, "STATION": r.Station, "LINENAME": r.LineName,
		"DIVISION": r.Division, "DATE": r.Date, "TIME": r.Time, "DESC": r.Desc,
		"ENTRIES": r.Entries, "EXITS": r.Exits, "ID": r.ID, "TIMESTAMP": r.Timestamp,
		"EVENT_TIME": nil, "SOURCE": nil,
	}
	if !r.EventTime.IsZero() {
		m["EVENT_TIME"] = goavro.Union("long.timestamp-millis", r.EventTime)
	}
	if r.Source != "" {
		m["SOURCE"] = goavro.Union("string", r.Source)
	}
	return m
}

// readingSetters set each reader field of a reading from a decoded value
// (direct.go's flatValue): each reads the member of its field's type.
func readingSetters() map[string]func(*schemas.Reading, flatValue) {
	return map[string]func(*schemas.Reading, flatValue){
		"CA":         func(r *schemas.Reading, v flatValue) { r.CA = v.s },
		"UNIT":       func(r *schemas.Reading, v flatValue) { r.Unit = v.s },
		"SCP":        func(r *schemas.Reading, v flatValue) { r.SCP = v.s },
		"STATION":    func(r *schemas.Reading, v flatValue) { r.Station = v.s },
		"LINENAME":   func(r *schemas.Reading, v flatValue) { r.LineName = v.s },
		"DIVISION":   func(r *schemas.Reading, v flatValue) { r.Division = v.s },
		"DATE":       func(r *schemas.Reading, v flatValue) { r.Date = v.s },
		"TIME":       func(r *schemas.Reading, v flatValue) { r.Time = v.s },
		"DESC":       func(r *schemas.Reading, v flatValue) { r.Desc = v.s },
		"ENTRIES":    func(r *schemas.Reading, v flatValue) { r.Entries = v.n },
		"EXITS":      func(r *schemas.Reading, v flatValue) { r.Exits = v.n },
		"ID":         func(r *schemas.Reading, v flatValue) { r.ID = v.s },
		"TIMESTAMP":  func(r *schemas.Reading, v flatValue) { r.Timestamp = v.s },
		"EVENT_TIME": func(r *schemas.Reading, v flatValue) { r.EventTime = v.t }, // zero when null
		"SOURCE":     func(r *schemas.Reading, v flatValue) { r.Source = v.s },
	}
}

// bindSetters orders setters like the reader schema's fields.
func bindSetters[F any](reader *avroType, table map[string]F) ([]F, error) {
	out := make([]F, len(reader.fields))
	for i, f := range reader.fields {
		s, ok := table[f.name]
		if !ok {
			return nil, fmt.Errorf("codecs: no Go field for reader field %s", f.name)
		}
		out[i] = s
	}
	return out, nil
}
