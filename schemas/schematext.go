package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/linkedin/goavro/v2"
)

// SchemaError is schema text that is not an Avro schema, with where: the
// line and column of a JSON syntax error, or of the field an Avro error is
// about (0 when unknown). It wraps [ErrInvalidSchema].
type SchemaError struct {
	Line, Column int
	// Field is the name of the record field the error is about, if any.
	Field string
	// Msg says what is wrong, with goavro's field numbers replaced by
	// field names.
	Msg string
}

func (e *SchemaError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("schemas: invalid schema at line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
	return "schemas: invalid schema: " + e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalidSchema) hold.
func (e *SchemaError) Unwrap() error { return ErrInvalidSchema }

// ParseSchema checks that text is an Avro schema (as goavro, which the
// codecs use, parses it) and returns a *SchemaError when it is not: a JSON
// syntax error with its line and column, an Avro error with the name (and
// place) of the field goavro only numbers ("field 10" becomes "field 10
// (ENTRIES)").
func ParseSchema(text string) error {
	var doc any
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(text, int(syn.Offset))
			return &SchemaError{Line: line, Column: col, Msg: syn.Error()}
		}
		return &SchemaError{Msg: err.Error()}
	}
	if _, err := goavro.NewCodec(text); err != nil {
		return describeAvroError(text, doc, err.Error())
	}
	return nil
}

// position turns a byte offset into a 1-based line and column; a JSON
// syntax error's offset is just past the offending byte.
func position(text string, offset int) (line, col int) {
	offset = min(max(offset-1, 0), len(text))
	before := text[:offset]
	line = strings.Count(before, "\n") + 1
	col = offset - strings.LastIndex(before, "\n")
	return line, col
}

// goavroField matches goavro's `Record "NAME" field N` (N counts from 1).
var goavroField = regexp.MustCompile(`Record "([^"]+)" field (\d+)`)

// describeAvroError names the fields goavro's message numbers and places
// the innermost one in text.
func describeAvroError(text string, doc any, msg string) *SchemaError {
	e := &SchemaError{}
	records := map[string][]any{} // full and short record name -> fields
	collectRecords(doc, "", records)
	nth := 0 // the innermost field is the nth of its record with its name
	e.Msg = goavroField.ReplaceAllStringFunc(msg, func(m string) string {
		sub := goavroField.FindStringSubmatch(m)
		n, _ := strconv.Atoi(sub[2])
		fields := records[sub[1]]
		if n < 1 || n > len(fields) {
			return m
		}
		name := fieldName(fields[n-1])
		if name == "" {
			return m
		}
		e.Field, nth = name, 0
		for _, f := range fields[:n] {
			if fieldName(f) == name {
				nth++
			}
		}
		return fmt.Sprintf("%s (%s)", m, name)
	})
	if e.Field != "" {
		// The innermost field's declaration (nested records with fields of
		// the same name may mislead this; the name is right regardless).
		at := regexp.MustCompile(`"name"\s*:\s*"`+regexp.QuoteMeta(e.Field)+`"`).FindAllStringIndex(text, nth)
		if len(at) == nth && nth > 0 {
			e.Line, e.Column = position(text, at[nth-1][0]+1)
		}
	}
	return e
}

// fieldName is a parsed record field's name ("" if it has none).
func fieldName(f any) string {
	m, _ := f.(map[string]any)
	name, _ := m["name"].(string)
	return name
}

// collectRecords finds every record schema in a parsed schema document,
// under its full name and its short name.
func collectRecords(v any, namespace string, out map[string][]any) {
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			collectRecords(x, namespace, out)
		}
	case map[string]any:
		if ns, ok := t["namespace"].(string); ok {
			namespace = ns
		}
		if name, ok := t["name"].(string); ok && t["type"] == "record" {
			fields, _ := t["fields"].([]any)
			full := name
			if !strings.Contains(name, ".") && namespace != "" {
				full = namespace + "." + name
			}
			out[full], out[name] = fields, fields
			for _, f := range fields {
				if fm, ok := f.(map[string]any); ok {
					collectRecords(fm["type"], namespace, out)
				}
			}
			return
		}
		if typ, ok := t["type"]; ok {
			collectRecords(typ, namespace, out)
		}
		if items, ok := t["items"]; ok {
			collectRecords(items, namespace, out)
		}
		if values, ok := t["values"]; ok {
			collectRecords(values, namespace, out)
		}
	}
}
