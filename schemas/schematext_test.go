package schemas_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestParseSchema: schema text that is not Avro is reported where it
// breaks: a JSON syntax error at its line and column, an Avro error about
// a field by the field's name (goavro only numbers them) and where it is
// declared.
func TestParseSchema(t *testing.T) {
	v2 := schemas.LatestReadingSchema().Text
	lines := strings.Split(v2, "\n")
	entriesLine := 0
	for i, l := range lines {
		if strings.Contains(l, `"ENTRIES"`) {
			entriesLine = i + 1
		}
	}
	nested := `{"type": "record", "name": "Outer", "namespace": "x",
 "fields": [
  {"name": "A", "type": "int"},
  {"name": "INNER", "type": {"type": "record", "name": "Inner",
     "fields": [{"name": "B", "type": "int"}, {"name": "C", "type": "strng"}]}}
 ]}`
	tests := []struct {
		name         string
		text         string
		line, column int
		field        string
		msg          []string
	}{
		{name: "valid", text: v2},
		{name: "trailing comma", text: "{\"type\": \"record\", \"name\": \"X\",\n \"fields\": [{\"name\": \"A\", \"type\": \"string\"},]}",
			line: 2, column: 45, msg: []string{"invalid character ']'"}},
		{name: "truncated", text: "{\"type\": \"record\",\n", line: 1, column: 19, msg: []string{"unexpected end of JSON input"}},
		{name: "unknown type", text: strings.Replace(v2, `{"name": "ENTRIES", "type": "long"`, `{"name": "ENTRIES", "type": "lon"`, 1),
			line: entriesLine, column: strings.Index(lines[entriesLine-1], `"name"`) + 1, field: "ENTRIES",
			msg: []string{`field 10 (ENTRIES)`, `unknown type name: "lon"`}},
		{name: "nested record", text: nested, line: 5, column: 48, field: "C",
			msg: []string{`Record "x.Outer" field 2 (INNER)`, `Record "x.Inner" field 2 (C)`, `"strng"`}},
		{name: "duplicate field", text: strings.Replace(v2, `{"name": "EXITS"`, `{"name": "ENTRIES"`, 1),
			line: entriesLine + 1, column: strings.Index(lines[entriesLine], `"name"`) + 1, field: "ENTRIES",
			msg: []string{"field 11 (ENTRIES)", "unique name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := schemas.ParseSchema(tt.text)
			if tt.msg == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *schemas.SchemaError
			if !errors.As(err, &se) || !errors.Is(err, schemas.ErrInvalidSchema) {
				t.Fatalf("got %v, want a *SchemaError wrapping ErrInvalidSchema", err)
			}
			if tt.line != 0 && (se.Line != tt.line || se.Column != tt.column) {
				t.Errorf("at %d:%d, want %d:%d (%v)", se.Line, se.Column, tt.line, tt.column, err)
			}
			if se.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", se.Field, tt.field, err)
			}
			for _, want := range tt.msg {
				if !strings.Contains(se.Msg, want) {
					t.Errorf("message %q lacks %q", se.Msg, want)
				}
			}
			t.Log(err)
		})
	}
}

func TestClosest(t *testing.T) {
	subjects := []string{"mta-turnstile-value", "mta-turnstile-late-value", "mta-turnstile-windows-value", "mta-station-windows-value"}
	tests := []struct{ in, want string }{
		{"mta-turnstle-value", "mta-turnstile-value"},
		{"mta-turnstile", "mta-turnstile-value"},
		{"mta-station-window-value", "mta-station-windows-value"},
		{"mta-turnstile-windows", "mta-turnstile-windows-value"},
	}
	for _, tt := range tests {
		if got := schemas.Closest(tt.in, subjects); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := schemas.Closest("x", nil); got != "" {
		t.Errorf("Closest of nothing = %q", got)
	}
}
