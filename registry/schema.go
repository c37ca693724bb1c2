package registry

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

const typeAvro = "AVRO"

// normalizeType maps the schemaType of a request or record to what we store:
// "" for AVRO (Confluent omits it for AVRO), upper case otherwise.
func normalizeType(t string) string {
	t = strings.ToUpper(strings.TrimSpace(t))
	if t == typeAvro {
		return ""
	}
	return t
}

// parseAvro parses an Avro schema with a cache of its own: avro.Parse
// shares one global cache of named types, so a schema naming a type it
// never defines would parse because an earlier, unrelated schema defined it.
func parseAvro(s string) (avro.Schema, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty schema")
	}
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("schema is not valid JSON")
	}
	return avro.ParseWithCache(s, "", &avro.SchemaCache{})
}

// canonical is the identity of a parsed Avro schema: hamba's full JSON form
// (names fully qualified, object keys in a fixed order, defaults, docs,
// aliases and custom properties kept). Two requests that differ only in key
// order or whitespace get the same identity and so the same id. Avro's
// "Parsing Canonical Form" is not used on purpose: it drops defaults, which
// decide compatibility.
func canonical(s avro.Schema) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return typeAvro + ":" + string(b), nil
}

// canonicalStored computes the identity of a schema read from the topic.
// Schemas we cannot parse (other types, written by another registry) are
// identified by their text.
func canonicalStored(schemaType, s string) (string, avro.Schema) {
	if schemaType == "" {
		if parsed, err := parseAvro(s); err == nil {
			if c, err := canonical(parsed); err == nil {
				return c, parsed
			}
		}
	}
	t := schemaType
	if t == "" {
		t = typeAvro
	}
	return t + ":raw:" + strings.TrimSpace(s), nil
}
