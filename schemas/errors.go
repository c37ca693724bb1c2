package schemas

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownSchema is returned (wrapped) by [Lookup] for a name and version
// that are not embedded.
var ErrUnknownSchema = errors.New("schemas: unknown schema")

// ErrInvalidSchema is wrapped by errors about schema text that does not
// parse as Avro, locally or in the registry's judgement (error 42201).
var ErrInvalidSchema = errors.New("schemas: invalid schema")

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

// UnknownSubjectError reports a subject without versions in a registry that
// has other subjects: most likely a misspelling of Closest.
type UnknownSubjectError struct {
	Subject  string
	Closest  string   // the existing subject nearest in spelling
	Subjects []string // the registry's subjects
}

func (e *UnknownSubjectError) Error() string {
	return fmt.Sprintf("schemas: subject %s does not exist (the registry has %d others; did you mean %s?)", e.Subject, len(e.Subjects), e.Closest)
}

// Closest returns the candidate nearest to s in edit distance (ties: the
// first in sorted order); "" for no candidates.
func Closest(s string, candidates []string) string {
	sorted := slices.Sorted(slices.Values(candidates))
	best, bestD := "", -1
	for _, c := range sorted {
		if d := editDistance(s, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (subjects are topic names: ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
