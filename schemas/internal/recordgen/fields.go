package main

import (
	"fmt"
	"reflect"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/turnstile-streams/turnstile/schemas"
)

// field is one field of a record's Go declaration: the Go field and the
// Avro field its tag names.
type field struct {
	Go   string // Go field name, e.g. EmittedAt
	Avro string // Avro field name, e.g. EMITTED_AT
	Kind kind
}

// kind is a Go field type and the Avro type it holds.
type kind string

const (
	kindString kind = "string"    // string ↔ string
	kindLong   kind = "int64"     // int64 ↔ long
	kindInt    kind = "int32"     // int32 ↔ int
	kindTime   kind = "time.Time" // time.Time ↔ long with logicalType timestamp-millis
)

// kindOf maps a Go field type to its kind; "" for a type no record may
// have.
func kindOf(t reflect.Type) kind {
	switch t {
	case reflect.TypeFor[string]():
		return kindString
	case reflect.TypeFor[int64]():
		return kindLong
	case reflect.TypeFor[int32]():
		return kindInt
	case reflect.TypeFor[time.Time]():
		return kindTime
	}
	return ""
}

// avroKind is the kind an Avro field type needs in Go; "" for a type no
// record may have.
func avroKind(s avro.Schema) kind {
	p, ok := s.(*avro.PrimitiveSchema)
	if !ok {
		return ""
	}
	var logical avro.LogicalType
	if l := p.Logical(); l != nil {
		logical = l.Type()
	}
	switch {
	case p.Type() == avro.String && logical == "":
		return kindString
	case p.Type() == avro.Long && logical == "":
		return kindLong
	case p.Type() == avro.Int && logical == "":
		return kindInt
	case p.Type() == avro.Long && logical == avro.TimestampMillis:
		return kindTime
	}
	return ""
}

// fieldsOf returns the fields of the record type t in Go declaration
// order, checked against the Avro schema s: every Go field has an avro
// tag naming a field of s, of a compatible type, and every field of s has
// exactly one Go field.
func fieldsOf(t reflect.Type, s schemas.Schema) ([]field, error) {
	fs, _, err := fieldsInBothOrders(t, s)
	return fs, err
}

// fieldsInBothOrders is fieldsOf, also returning the fields in the order
// of the Avro schema (the order of its binary encoding).
func fieldsInBothOrders(t reflect.Type, s schemas.Schema) (goOrder, avroOrder []field, err error) {
	parsed, err := avro.ParseWithCache(s.Text, "", &avro.SchemaCache{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.File, err)
	}
	rec, ok := parsed.(*avro.RecordSchema)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a record", s.File)
	}
	avroFields := map[string]*avro.Field{}
	for _, f := range rec.Fields() {
		avroFields[f.Name()] = f
	}
	if t.Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("%s is not a struct", t)
	}
	var out []field
	seen := map[string]string{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, ok := sf.Tag.Lookup("avro")
		switch {
		case !ok || name == "":
			return nil, nil, fmt.Errorf("%s.%s has no avro tag naming its Avro field", t, sf.Name)
		case seen[name] != "":
			return nil, nil, fmt.Errorf("%s.%s and %s.%s both hold Avro field %s", t, seen[name], t, sf.Name, name)
		}
		seen[name] = sf.Name
		af, ok := avroFields[name]
		if !ok {
			return nil, nil, fmt.Errorf("%s.%s: %s has no field %s", t, sf.Name, s.File, name)
		}
		k := kindOf(sf.Type)
		if k == "" {
			return nil, nil, fmt.Errorf("%s.%s: Go type %s is not one a record field may have (string, int64, int32, time.Time)", t, sf.Name, sf.Type)
		}
		if want := avroKind(af.Type()); k != want {
			return nil, nil, fmt.Errorf("%s.%s: Go type %s cannot hold Avro field %s of type %s", t, sf.Name, sf.Type, name, af.Type())
		}
		out = append(out, field{Go: sf.Name, Avro: name, Kind: k})
	}
	byAvro := map[string]field{}
	for _, f := range out {
		byAvro[f.Avro] = f
	}
	var ordered []field
	for _, f := range rec.Fields() {
		if seen[f.Name()] == "" {
			return nil, nil, fmt.Errorf("%s: Avro field %s has no Go field in %s", s.File, f.Name(), t)
		}
		ordered = append(ordered, byAvro[f.Name()])
	}
	return out, ordered, nil
}
