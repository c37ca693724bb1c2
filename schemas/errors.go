package schemas

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownSchema is returned (wrapped) by [Lookup] for a name and version
// that are not embedded.
var ErrUnknownSchema = errors.New("unknown schema")

// ErrInvalidSchema is wrapped by errors about schema text that does not
// parse as Avro, locally or in the registry's judgement (error 42201).
var ErrInvalidSchema = errors.New("invalid schema")

// FieldError reports a record that breaks a domain rule.
type FieldError struct {
	Field  string // Avro field name, e.g. ENTRIES
	Value  string // offending value, for messages
	Reason string // what is wrong
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("schemas: field %s=%q: %s", e.Field, e.Value, e.Reason)
}

// IncompatibleError reports that the registry judged a schema incompatible
// with a subject. Messages are the registry's reasons (verbose mode).
type IncompatibleError struct {
	Subject  string
	Messages []string
}

func (e *IncompatibleError) Error() string {
	msg := "schemas: schema is incompatible with subject " + e.Subject
	if len(e.Messages) > 0 {
		msg += ": " + strings.Join(e.Messages, "; ")
	}
	return msg
}
