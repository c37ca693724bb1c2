package codecs

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// This file is the decoder of the hot path. goavro decodes a record into a
// map[string]any (a map per union, every value boxed) that the plan then
// copies into reader order; for a reading that is about fifty allocations.
// Most writer schemas are flat records: strings, numbers and nullable
// unions of them. For those, a direct plan reads the Avro binary straight
// into typed values in reader order, with one allocation for every string
// of the record, and falls back to goavro + plan for anything else (nested
// records, arrays, maps, enums, promotions such as an int written for a
// long). The two paths accept the same bytes and give the same values: the
// direct decoder mirrors goavro's binary rules (varints without an overflow
// check, a boolean is byte 0 or 1, a negative length is malformed), and
// direct_test.go checks the two against each other on mutated payloads.

// flatValue is one decoded field of a flat record; a nullable union
// holding null is the zero value.
type flatValue struct {
	s string    // string and bytes
	n int64     // long, int, boolean (0/1)
	t time.Time // long with logicalType timestamp-millis
}

// flatKind is the underlying encoding of a direct field.
type flatKind uint8

const (
	flatNull flatKind = iota
	flatBoolean
	flatInt
	flatLong
	flatTimestampMillis
	flatFloat
	flatDouble
	flatString // string and bytes: a length and the bytes
)

// directField says how to read one writer field.
type directField struct {
	name string
	kind flatKind
	// union is -1 for a plain field; else the field is a two-branch union
	// and union is the branch index holding null (0 or 1).
	union int
	// reader is the reader field the value goes to, or -1 to skip it.
	reader int
}

// directPlan reads a flat writer record into reader order. Reader fields
// the writer lacks take their defaults from the resolution plan.
type directPlan struct {
	fields []directField
}

// flatKindOf returns the encoding of a non-union flat type.
func flatKindOf(t *avroType) (flatKind, bool) {
	switch t.kind {
	case "null":
		return flatNull, true
	case "boolean":
		return flatBoolean, true
	case "int":
		return flatInt, true
	case "long":
		if t.logical == "timestamp-millis" {
			return flatTimestampMillis, true
		}
		return flatLong, true
	case "float":
		return flatFloat, true
	case "double":
		return flatDouble, true
	case "string", "bytes":
		return flatString, true
	}
	return 0, false
}

// flatShape returns how a field type is read: its kind and null branch
// (see directField.union), or false when the type is not flat.
func flatShape(t *avroType) (flatKind, int, bool) {
	if t.kind != "union" {
		k, ok := flatKindOf(t)
		if t.logical != "" && k != flatTimestampMillis {
			// goavro converts other logical types (dates, durations):
			// leave them to it.
			return 0, 0, false
		}
		return k, -1, ok
	}
	if len(t.branches) != 2 {
		return 0, 0, false
	}
	for i, b := range t.branches {
		other := t.branches[1-i]
		if b.kind != "null" || other.kind == "null" || other.kind == "union" {
			continue
		}
		k, _, ok := flatShape(other)
		return k, i, ok
	}
	return 0, 0, false
}

// sameFlat reports whether writer and reader field types are the same flat
// type, so that the writer's value is the reader's as it is.
func sameFlat(w, r *avroType) bool {
	if w.kind != r.kind || w.logical != r.logical || len(w.branches) != len(r.branches) {
		return false
	}
	for i := range w.branches {
		if !sameFlat(w.branches[i], r.branches[i]) {
			return false
		}
	}
	return true
}

// newDirectPlan returns a direct plan for writer record w read as reader r
// (p is their resolution plan), or nil when some field needs goavro: a type
// that is not flat, or a writer field the reader takes with a conversion.
func newDirectPlan(w, r *avroType, p *plan) *directPlan {
	readerOf := make(map[string]int, len(p.fields))
	for i, f := range p.fields {
		if f.writerName != "" {
			readerOf[f.writerName] = i
		}
	}
	d := &directPlan{fields: make([]directField, len(w.fields))}
	for i, wf := range w.fields {
		kind, union, ok := flatShape(wf.typ)
		if !ok {
			return nil
		}
		ri, read := readerOf[wf.name]
		switch {
		case !read:
			ri = -1
		case !sameFlat(wf.typ, r.fields[ri].typ):
			return nil
		case kind == flatFloat || kind == flatDouble:
			return nil // decode only skips them: a reader that takes one goes through goavro
		}
		d.fields[i] = directField{name: wf.name, kind: kind, union: union, reader: ri}
	}
	return d
}

// errMalformed marks a body that breaks the Avro binary encoding for a
// reason other than its end (ReasonMalformed); running out of bytes is
// io.ErrShortBuffer (ReasonTruncated), as with goavro.
var errMalformed = errors.New("malformed")

// decode reads body into out (reader order; fields the writer lacks are
// left alone) and returns the unread rest. Every string value is a slice of
// one copy of body.
func (d *directPlan) decode(body []byte, out []flatValue) ([]byte, error) {
	var text string // body as a string, made on the first string field
	buf := body
	for _, f := range d.fields {
		var v flatValue
		if f.union >= 0 {
			idx, rest, err := readLong(buf)
			if err != nil {
				return nil, fmt.Errorf("field %s: union index: %w", f.name, err)
			}
			buf = rest
			switch {
			case idx == int64(f.union):
				if f.reader >= 0 {
					out[f.reader] = v
				}
				continue
			case idx != int64(1-f.union):
				return nil, fmt.Errorf("field %s: union index %d is not 0 or 1: %w", f.name, idx, errMalformed)
			}
		}
		switch f.kind {
		case flatNull:
		case flatBoolean:
			if len(buf) < 1 {
				return nil, fmt.Errorf("field %s: %w", f.name, io.ErrShortBuffer)
			}
			if buf[0] > 1 {
				return nil, fmt.Errorf("field %s: boolean byte %d: %w", f.name, buf[0], errMalformed)
			}
			v.n, buf = int64(buf[0]), buf[1:]
		case flatInt:
			// goavro reads an int's varint into an int and keeps its low
			// 32 bits after the zig-zag: the same as a long's, truncated.
			n, rest, err := readLong(buf)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			v.n, buf = int64(int32(n)), rest
		case flatLong, flatTimestampMillis:
			n, rest, err := readLong(buf)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.name, err)
			}
			v.n, buf = n, rest
			if f.kind == flatTimestampMillis {
				v.t = time.UnixMilli(n).UTC()
			}
		case flatFloat, flatDouble:
			size := 4
			if f.kind == flatDouble {
				size = 8
			}
			if len(buf) < size {
				return nil, fmt.Errorf("field %s: %w", f.name, io.ErrShortBuffer)
			}
			buf = buf[size:] // skipped: newDirectPlan leaves a float the reader takes to goavro
		case flatString:
			size, rest, err := readLong(buf)
			if err != nil {
				return nil, fmt.Errorf("field %s: length: %w", f.name, err)
			}
			if size < 0 {
				return nil, fmt.Errorf("field %s: negative length %d: %w", f.name, size, errMalformed)
			}
			if size > int64(len(rest)) {
				return nil, fmt.Errorf("field %s: %w", f.name, io.ErrShortBuffer)
			}
			if f.reader >= 0 {
				if text == "" {
					text = string(body)
				}
				start := len(body) - len(rest)
				v.s = text[start : start+int(size)]
			}
			buf = rest[size:]
		}
		if f.reader >= 0 {
			out[f.reader] = v
		}
	}
	return buf, nil
}

// readLong reads a zig-zag varint as goavro does (bits past 64 are
// dropped, not rejected).
func readLong(buf []byte) (int64, []byte, error) {
	var value uint64
	var shift uint
	for i, b := range buf {
		value |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return int64(value>>1) ^ -int64(value&1), buf[i+1:], nil
		}
		shift += 7
	}
	return 0, nil, io.ErrShortBuffer
}

// decodeRecord decodes payload b into dst: by the direct plan when the
// writer schema has one, else with goavro and the resolution plan (its
// values, and every default, as flatValues). set has a setter per reader
// field, in order. It returns the schema id, -1 when b has none.
func decodeRecord[T any](e *engine, b []byte, dst *T, set []func(*T, flatValue)) (int, error) {
	id, w, err := e.writer(b)
	if err != nil {
		return id, err
	}
	if w.direct == nil {
		var vals [24]any
		out := vals[:0]
		if len(set) <= len(vals) {
			out = vals[:len(set)]
		} else {
			out = make([]any, len(set))
		}
		if err := e.decodeGoavro(id, w, b[HeaderSize:], out); err != nil {
			return id, err
		}
		for i, v := range out {
			set[i](dst, flatOf(v))
		}
		return id, nil
	}
	var vals [24]flatValue
	out := vals[:0]
	if len(set) <= len(vals) {
		out = vals[:len(set)]
	} else {
		out = make([]flatValue, len(set))
	}
	rest, err := w.direct.decode(b[HeaderSize:], out)
	if err != nil {
		return id, e.bodyReject(id, err)
	}
	if len(rest) > 0 {
		return id, e.reject(ReasonTrailingBytes, id, fmt.Sprintf("%d bytes after the record", len(rest)), nil)
	}
	for i, f := range w.plan.fields {
		v := out[i]
		if f.writerName == "" {
			v = flatOf(f.dflt)
		}
		set[i](dst, v)
	}
	return id, nil
}

// flatOf is a reader value of the resolution plan (see converter) as a
// flatValue; nil (a union holding null) is the zero value. Floats have no
// flatValue: no reader field the codecs set is one.
func flatOf(v any) flatValue {
	switch x := v.(type) {
	case string:
		return flatValue{s: x}
	case []byte:
		return flatValue{s: string(x)}
	case int64:
		return flatValue{n: x}
	case int32:
		return flatValue{n: int64(x)}
	case bool:
		if x {
			return flatValue{n: 1}
		}
	case time.Time:
		return flatValue{t: x}
	}
	return flatValue{}
}
