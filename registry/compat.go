package registry

import (
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// Compatibility levels, as Confluent names them.
const (
	levelNone               = "NONE"
	levelBackward           = "BACKWARD"
	levelBackwardTransitive = "BACKWARD_TRANSITIVE"
	levelForward            = "FORWARD"
	levelForwardTransitive  = "FORWARD_TRANSITIVE"
	levelFull               = "FULL"
	levelFullTransitive     = "FULL_TRANSITIVE"

	defaultLevel = levelBackward
)

// parseLevel accepts a level in any case and returns its canonical name.
func parseLevel(s string) (string, bool) {
	switch l := strings.ToUpper(strings.TrimSpace(s)); l {
	case levelNone, levelBackward, levelBackwardTransitive, levelForward,
		levelForwardTransitive, levelFull, levelFullTransitive:
		return l, true
	}
	return "", false
}

// prior is an existing version a new schema is checked against.
type prior struct {
	version int
	schema  *schemaEntry
}

// checkCompat returns why next is not compatible with the priors (ascending
// by version, live ones only) under level; nil means compatible. The
// non-transitive levels look at the last prior only.
//
// Each check uses a fresh avro.SchemaCompatibility: hamba caches results by
// the schemas' Parsing-Canonical-Form fingerprints, which leave out field
// defaults, so a shared instance would answer "incompatible" for a schema
// that only differs from an earlier-checked one by a default (and its
// recursion marker makes concurrent checks of the same pair return nil).
func checkCompat(level string, next avro.Schema, priors []prior) []string {
	if level == levelNone || len(priors) == 0 {
		return nil
	}
	transitive := strings.HasSuffix(level, "_TRANSITIVE")
	base := strings.TrimSuffix(level, "_TRANSITIVE")
	backward := base == levelBackward || base == levelFull
	forward := base == levelForward || base == levelFull
	if !transitive {
		priors = priors[len(priors)-1:]
	}
	var msgs []string
	// Newest first, as Confluent reports.
	for i := len(priors) - 1; i >= 0; i-- {
		p := priors[i]
		if p.schema == nil {
			msgs = append(msgs, fmt.Sprintf("version %d has no schema", p.version))
			continue
		}
		if p.schema.parsed == nil {
			t := p.schema.schemaType
			if t == "" {
				t = typeAvro
			}
			msgs = append(msgs, fmt.Sprintf("version %d is a %s schema this registry cannot parse as Avro", p.version, t))
			continue
		}
		if backward {
			if err := avro.NewSchemaCompatibility().Compatible(next, p.schema.parsed); err != nil {
				msgs = append(msgs, fmt.Sprintf("backward: the new schema cannot read data written with version %d: %v", p.version, err))
			}
		}
		if forward {
			if err := avro.NewSchemaCompatibility().Compatible(p.schema.parsed, next); err != nil {
				msgs = append(msgs, fmt.Sprintf("forward: version %d cannot read data written with the new schema: %v", p.version, err))
			}
		}
	}
	if len(msgs) > 0 {
		msgs = append(msgs, "compatibility: "+level)
	}
	return msgs
}
