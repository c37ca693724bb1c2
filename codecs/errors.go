package codecs

import (
	"errors"
	"fmt"
)

// Reason says why a record was rejected. The values are stable strings,
// suitable for a dead-letter header.
type Reason string

// Rejection reasons.
const (
	// ReasonEmpty: the payload is empty (nil or zero bytes, e.g. a tombstone).
	ReasonEmpty Reason = "empty"
	// ReasonMagicByte: the first byte is not the Confluent magic byte 0.
	ReasonMagicByte Reason = "magic-byte"
	// ReasonTruncated: the payload ends inside the 5-byte header or inside
	// the Avro record.
	ReasonTruncated Reason = "truncated"
	// ReasonUnknownSchemaID: the registry does not know the schema id (40403).
	ReasonUnknownSchemaID Reason = "unknown-schema-id"
	// ReasonWrongSubject: the schema id exists but is not registered under
	// the codec's subject (e.g. a record of another topic).
	ReasonWrongSubject Reason = "wrong-subject"
	// ReasonIncompatibleSchema: the writer schema cannot be read with the
	// reader schema (a different record, a field whose type does not
	// resolve, a field without default missing, or a schema the decoder
	// cannot parse).
	ReasonIncompatibleSchema Reason = "incompatible-schema"
	// ReasonMalformed: the Avro body does not decode with the writer schema
	// for a reason other than running out of bytes (bad union index,
	// negative length, ...).
	ReasonMalformed Reason = "malformed"
	// ReasonTrailingBytes: bytes remain after the Avro record.
	ReasonTrailingBytes Reason = "trailing-bytes"
	// ReasonInvalidField: the record decodes but breaks a domain rule (empty
	// device field, negative counter, unparsable DATE/TIME/TIMESTAMP, ...).
	ReasonInvalidField Reason = "invalid-field"
	// ReasonFutureEventTime: the event time is later than the codec's clock
	// plus its allowed skew.
	ReasonFutureEventTime Reason = "future-event-time"
	// ReasonOversized: the payload is larger than Config.MaxRecordBytes; it
	// is not decoded at all.
	ReasonOversized Reason = "oversized"
)

// Reasons lists every reason, for metrics and tests.
func Reasons() []Reason {
	return []Reason{ReasonEmpty, ReasonMagicByte, ReasonTruncated, ReasonUnknownSchemaID,
		ReasonWrongSubject, ReasonIncompatibleSchema, ReasonMalformed, ReasonTrailingBytes,
		ReasonInvalidField, ReasonFutureEventTime, ReasonOversized}
}

// RejectError is returned by decoders for a record that can never be decoded:
// retrying will not help, so the caller should dead-letter it. Use
// errors.As(err, &rejectErr) to branch on it.
type RejectError struct {
	Reason Reason
	// SchemaID is the id in the header, or -1 when the payload has none.
	SchemaID int
	// Subject is the codec's subject.
	Subject string
	// Field is the offending Avro field for ReasonInvalidField and
	// ReasonFutureEventTime, else "".
	Field string
	// Detail says what exactly is wrong.
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *RejectError) Error() string {
	msg := "codecs: reject (" + string(e.Reason) + ")"
	if e.SchemaID >= 0 {
		msg += fmt.Sprintf(" schema id %d", e.SchemaID)
	}
	if e.Field != "" {
		msg += " field " + e.Field
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *RejectError) Unwrap() error { return e.Err }

// ErrRegistryUnavailable is matched (errors.Is) by every error caused by the
// schema registry being unreachable or failing: such errors are retryable.
var ErrRegistryUnavailable = errors.New("codecs: schema registry unavailable")

// ErrRegistryAuth is wrapped by the error of an encoder whose registry
// refused its credentials (HTTP 401 or 403). Retrying will not help; the
// configuration must change. (A decoder meeting a never-seen schema id
// keeps treating it as unavailability: a record is never dead-lettered for
// the registry's sake.)
var ErrRegistryAuth = errors.New("codecs: the schema registry refused the credentials")

// ErrNotRegistered is wrapped by the error of an encoder configured with
// Config.LookupOnly whose writer schema is not registered under its subject.
var ErrNotRegistered = errors.New("codecs: the writer schema is not registered under the subject")

// UnavailableError reports that a registry round trip the codec needed
// failed (connection refused, timeout, 5xx, ...). Only records whose schema
// id was never seen (or an encoder whose id is not resolved yet) hit the
// registry, so while it is down, everything cached keeps working and only
// those fail, with this error. The caller should wait and retry, not
// dead-letter the record.
type UnavailableError struct {
	Op       string // what the codec was doing, e.g. "get schema"
	SchemaID int    // -1 when not about an id
	Subject  string
	Err      error
}

func (e *UnavailableError) Error() string {
	msg := "codecs: schema registry unavailable: " + e.Op
	if e.SchemaID >= 0 {
		msg += fmt.Sprintf(" id %d", e.SchemaID)
	}
	if e.Subject != "" {
		msg += " subject " + e.Subject
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRegistryUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrRegistryUnavailable }

// Temporary reports true: the condition may go away.
func (e *UnavailableError) Temporary() bool { return true }

// IsRetryable reports whether err is worth retrying later (the registry was
// unavailable), as opposed to a rejection or a programming error.
func IsRetryable(err error) bool { return errors.Is(err, ErrRegistryUnavailable) }

// AsReject returns the *RejectError in err's chain, if any.
func AsReject(err error) (*RejectError, bool) {
	var re *RejectError
	ok := errors.As(err, &re)
	return re, ok
}
