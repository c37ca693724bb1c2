package codecs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// This file implements Avro schema resolution (reader vs writer schema, as in
// the Avro specification's "Schema Resolution" section) on top of goavro,
// which has none: goavro decodes binary data with exactly one schema. A
// record is decoded with the writer's schema into goavro's native form, and a
// plan built once per writer schema maps it onto the reader's fields by name
// (or alias), promoting numeric types and filling absent fields from the
// reader's defaults.

// avroType is the part of an Avro schema that resolution needs.
type avroType struct {
	kind     string // null boolean int long float double bytes string record enum array map fixed union decimal
	logical  string // a logical type goavro decodes specially, else ""
	name     string // full name of named types
	aliases  []string
	branches []*avroType // union members
	fields   []avroField // record fields (top level and nested)
	items    *avroType   // array items, map values
	size     int         // fixed size
}

type avroField struct {
	name       string
	aliases    []string
	typ        *avroType
	hasDefault bool
	dflt       any // JSON default as decoded by encoding/json
}

func isPrimitive(kind string) bool {
	switch kind {
	case "null", "boolean", "int", "long", "float", "double", "bytes", "string":
		return true
	}
	return false
}

// goavroLogical lists the logical types goavro decodes into other Go types;
// any other logicalType decodes as its underlying type.
func isGoavroLogical(name string) bool {
	switch name {
	case "long.timestamp-millis", "long.timestamp-micros", "int.time-millis", "long.time-micros", "int.date":
		return true
	}
	return false
}

// parseSchema parses schema JSON into an avroType.
func parseSchema(text string) (*avroType, error) {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("schema JSON: %w", err)
	}
	p := schemaParser{named: map[string]*avroType{}}
	return p.parse(v, "")
}

type schemaParser struct {
	named map[string]*avroType
	depth int
}

func fullName(name, namespace, enclosing string) string {
	if strings.Contains(name, ".") {
		return name
	}
	if namespace == "" {
		namespace = enclosing
	}
	if namespace == "" {
		return name
	}
	return namespace + "." + name
}

func (p *schemaParser) parse(v any, ns string) (*avroType, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 64 {
		return nil, errors.New("schema nested too deeply")
	}
	switch s := v.(type) {
	case string:
		if isPrimitive(s) {
			return &avroType{kind: s}, nil
		}
		if t, ok := p.named[fullName(s, "", ns)]; ok {
			return t, nil
		}
		if t, ok := p.named[s]; ok {
			return t, nil
		}
		return nil, fmt.Errorf("unknown type %q", s)
	case []any:
		u := &avroType{kind: "union"}
		for _, b := range s {
			bt, err := p.parse(b, ns)
			if err != nil {
				return nil, err
			}
			u.branches = append(u.branches, bt)
		}
		return u, nil
	case map[string]any:
		return p.parseMap(s, ns)
	default:
		return nil, fmt.Errorf("invalid schema node %T", v)
	}
}

func strList(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (p *schemaParser) parseMap(m map[string]any, ns string) (*avroType, error) {
	typ, ok := m["type"]
	if !ok {
		return nil, errors.New("schema object without type")
	}
	tname, isString := typ.(string)
	if !isString {
		return p.parse(typ, ns) // {"type": {...}} or {"type": [...]}
	}
	switch tname {
	case "record", "error", "enum", "fixed":
		name, _ := m["name"].(string)
		if name == "" {
			return nil, fmt.Errorf("%s without a name", tname)
		}
		namespace, _ := m["namespace"].(string)
		t := &avroType{kind: tname, name: fullName(name, namespace, ns)}
		if tname == "error" {
			t.kind = "record"
		}
		for _, a := range strList(m["aliases"]) {
			t.aliases = append(t.aliases, fullName(a, namespace, ns))
		}
		if tname == "fixed" {
			size, ok := m["size"].(float64)
			if !ok || size < 0 || size != float64(int(size)) {
				return nil, fmt.Errorf("fixed %s: invalid size %v", t.name, m["size"])
			}
			t.size = int(size)
		}
		p.named[t.name] = t
		if t.kind != "record" {
			return t, nil
		}
		childNS := t.name[:max(0, strings.LastIndex(t.name, "."))]
		fields, _ := m["fields"].([]any)
		for _, f := range fields {
			fm, ok := f.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("record %s: field is not an object", t.name)
			}
			fname, _ := fm["name"].(string)
			ft, err := p.parse(fm["type"], childNS)
			if err != nil {
				return nil, fmt.Errorf("record %s field %s: %w", t.name, fname, err)
			}
			d, hasDefault := fm["default"]
			t.fields = append(t.fields, avroField{name: fname, aliases: strList(fm["aliases"]), typ: ft, hasDefault: hasDefault, dflt: d})
		}
		return t, nil
	case "array", "map":
		key := "items"
		if tname == "map" {
			key = "values"
		}
		items, err := p.parse(m[key], ns)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", tname, key, err)
		}
		return &avroType{kind: tname, items: items}, nil
	default:
		t, err := p.parse(tname, ns)
		if err != nil {
			return nil, err
		}
		lt, _ := m["logicalType"].(string)
		if lt == "" || !isPrimitive(t.kind) {
			return t, nil
		}
		if lt == "decimal" && t.kind == "bytes" {
			return &avroType{kind: "decimal"}, nil
		}
		if isGoavroLogical(t.kind + "." + lt) {
			return &avroType{kind: t.kind, logical: lt}, nil
		}
		return t, nil
	}
}

// branchName is the key goavro uses for a union member's value.
func (t *avroType) branchName() string {
	switch {
	case t.name != "":
		return t.name
	case t.logical != "":
		return t.kind + "." + t.logical
	default:
		return t.kind
	}
}

func (t *avroType) String() string {
	if t.kind == "union" {
		names := make([]string, len(t.branches))
		for i, b := range t.branches {
			names[i] = b.String()
		}
		return "[" + strings.Join(names, ",") + "]"
	}
	return t.branchName()
}

// converter turns a writer value (goavro native) into the reader's native
// form: nil, bool, int32, int64, float32, float64, []byte, string, or
// time.Time for timestamp-millis/micros. Reader unions are unwrapped: the
// reader value of ["null","string"] is nil or a string.
type converter func(any) (any, error)

// raw strips goavro's logical-type conversion from a writer value.
func raw(w *avroType, v any) (any, error) {
	switch w.logical {
	case "":
		return v, nil
	case "timestamp-millis":
		if t, ok := v.(time.Time); ok {
			return t.UnixMilli(), nil
		}
	case "timestamp-micros":
		if t, ok := v.(time.Time); ok {
			return t.UnixMicro(), nil
		}
	case "date":
		if t, ok := v.(time.Time); ok {
			return int32(t.Unix() / 86400), nil
		}
	case "time-millis":
		if d, ok := v.(time.Duration); ok {
			return int32(d / time.Millisecond), nil
		}
	case "time-micros":
		if d, ok := v.(time.Duration); ok {
			return int64(d / time.Microsecond), nil
		}
	}
	return nil, fmt.Errorf("unexpected %T for %s", v, w)
}

// cook applies the reader's logical type to an underlying value.
func cook(r *avroType, v any) any {
	switch r.logical {
	case "timestamp-millis":
		return time.UnixMilli(v.(int64)).UTC()
	case "timestamp-micros":
		return time.UnixMicro(v.(int64)).UTC()
	}
	return v
}

// promotable reports whether writer kind w resolves to reader kind r.
func promotable(w, r string) bool {
	if w == r {
		return isPrimitive(w)
	}
	switch w {
	case "int":
		return r == "long" || r == "float" || r == "double"
	case "long":
		return r == "float" || r == "double"
	case "float":
		return r == "double"
	case "string":
		return r == "bytes"
	case "bytes":
		return r == "string"
	}
	return false
}

func promote(v any, r string) (any, error) {
	switch x := v.(type) {
	case int32:
		switch r {
		case "int":
			return x, nil
		case "long":
			return int64(x), nil
		case "float":
			return float32(x), nil
		case "double":
			return float64(x), nil
		}
	case int64:
		switch r {
		case "long":
			return x, nil
		case "float":
			return float32(x), nil
		case "double":
			return float64(x), nil
		}
	case float32:
		switch r {
		case "float":
			return x, nil
		case "double":
			return float64(x), nil
		}
	case float64:
		if r == "double" {
			return x, nil
		}
	case string:
		switch r {
		case "string":
			return x, nil
		case "bytes":
			return []byte(x), nil
		}
	case []byte:
		switch r {
		case "bytes":
			return x, nil
		case "string":
			return string(x), nil
		}
	case bool:
		if r == "boolean" {
			return x, nil
		}
	case nil:
		if r == "null" {
			return nil, nil
		}
	}
	return nil, fmt.Errorf("cannot resolve %T to %s", v, r)
}

// resolve builds a converter from writer type w to reader type r, or
// reports why w cannot be read as r.
func resolve(w, r *avroType) (converter, error) {
	if w.kind == "union" {
		// Resolve per writer branch; a branch the reader cannot read is an
		// error only when a record actually selects it.
		convs := make(map[string]converter, len(w.branches))
		errs := make(map[string]error)
		readable := false
		for _, b := range w.branches {
			c, err := resolve(b, r)
			if err != nil {
				errs[b.branchName()] = err
				continue
			}
			convs[b.branchName()] = c
			readable = true
		}
		if !readable {
			return nil, fmt.Errorf("no branch of writer %s resolves to reader %s", w, r)
		}
		nullConv := convs["null"]
		return func(v any) (any, error) {
			if v == nil {
				if nullConv == nil {
					return nil, fmt.Errorf("writer null cannot be read as %s", r)
				}
				return nullConv(nil)
			}
			m, ok := v.(map[string]any)
			if !ok || len(m) != 1 {
				return nil, fmt.Errorf("unexpected union value %T", v)
			}
			for k, x := range m {
				if c := convs[k]; c != nil {
					return c(x)
				}
				if err := errs[k]; err != nil {
					return nil, err
				}
				return nil, fmt.Errorf("unknown union branch %q", k)
			}
			return nil, errors.New("unreachable")
		}, nil
	}
	if r.kind == "union" {
		// The first reader branch that matches exactly, else the first the
		// writer promotes to.
		for pass := 0; pass < 2; pass++ {
			for _, b := range r.branches {
				if b.kind == "union" {
					continue
				}
				if pass == 0 && (b.kind != w.kind || b.name != w.name) {
					continue
				}
				if c, err := resolve(w, b); err == nil {
					return c, nil
				}
			}
		}
		return nil, fmt.Errorf("writer %s matches no branch of reader %s", w, r)
	}
	if !promotable(w.kind, r.kind) {
		return nil, fmt.Errorf("writer %s cannot be read as %s", w, r)
	}
	if r.kind == "null" {
		return func(any) (any, error) { return nil, nil }, nil
	}
	if w.kind == r.kind && w.logical == r.logical {
		// goavro's value already has the reader's Go type: pass the
		// interface through rather than re-boxing it (an allocation per
		// field).
		return identity, nil
	}
	// Logical types are annotations: resolution is on the underlying types
	// (so a plain long reads as a timestamp-millis and back), but a writer
	// timestamp-micros read as timestamp-millis is scaled.
	scale := int64(1)
	if w.logical == "timestamp-micros" && r.logical == "timestamp-millis" {
		scale = -1000
	} else if w.logical == "timestamp-millis" && r.logical == "timestamp-micros" {
		scale = 1000
	}
	return func(v any) (any, error) {
		u, err := raw(w, v)
		if err != nil {
			return nil, err
		}
		p, err := promote(u, r.kind)
		if err != nil {
			return nil, err
		}
		if scale != 1 {
			n := p.(int64)
			if scale < 0 {
				p = n / -scale
			} else {
				if n > math.MaxInt64/scale || n < math.MinInt64/scale {
					return nil, fmt.Errorf("timestamp %d out of range", n)
				}
				p = n * scale
			}
		}
		return cook(r, p), nil
	}, nil
}

func identity(v any) (any, error) { return v, nil }

// defaultValue converts a reader field's JSON default to its native form.
func defaultValue(t *avroType, d any) (any, error) {
	if t.kind == "union" {
		if len(t.branches) == 0 {
			return nil, errors.New("empty union")
		}
		return defaultValue(t.branches[0], d) // defaults match the first branch
	}
	switch t.kind {
	case "null":
		if d != nil {
			return nil, fmt.Errorf("default %v for null", d)
		}
		return nil, nil
	case "boolean":
		if b, ok := d.(bool); ok {
			return b, nil
		}
	case "int", "long", "float", "double":
		f, ok := d.(float64)
		if !ok {
			break
		}
		switch t.kind {
		case "int":
			if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
				break
			}
			return int32(f), nil
		case "long":
			if f != math.Trunc(f) || f < math.MinInt64 || f > math.MaxInt64 {
				break
			}
			return cook(t, int64(f)), nil
		case "float":
			return float32(f), nil
		default:
			return f, nil
		}
	case "string":
		if s, ok := d.(string); ok {
			return s, nil
		}
	case "bytes":
		if s, ok := d.(string); ok {
			b := make([]byte, 0, len(s))
			for _, r := range s {
				if r > 255 {
					return nil, fmt.Errorf("bytes default has code point %U", r)
				}
				b = append(b, byte(r))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("default %v (%T) does not fit %s", d, d, t)
}

// plan maps a writer record onto the reader's fields.
type plan struct {
	fields []planField // in reader field order
}

type planField struct {
	writerName string    // "" when the writer lacks the field
	conv       converter // writer → reader value
	dflt       any       // reader default, when writerName == ""
}

// newPlan resolves writer record w against reader record r.
func newPlan(w, r *avroType) (*plan, error) {
	if w.kind != "record" || r.kind != "record" {
		return nil, fmt.Errorf("writer %s and reader %s must both be records", w, r)
	}
	if w.name != r.name && !contains(r.aliases, w.name) {
		return nil, fmt.Errorf("writer record %s does not match reader record %s", w.name, r.name)
	}
	byName := make(map[string]*avroField, len(w.fields))
	for i := range w.fields {
		byName[w.fields[i].name] = &w.fields[i]
	}
	p := &plan{fields: make([]planField, len(r.fields))}
	for i, rf := range r.fields {
		wf := byName[rf.name]
		for _, a := range rf.aliases {
			if wf == nil {
				wf = byName[a]
			}
		}
		if wf == nil {
			if !rf.hasDefault {
				return nil, fmt.Errorf("writer lacks field %s, which has no default", rf.name)
			}
			d, err := defaultValue(rf.typ, rf.dflt)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", rf.name, err)
			}
			p.fields[i] = planField{dflt: d}
			continue
		}
		c, err := resolve(wf.typ, rf.typ)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", rf.name, err)
		}
		p.fields[i] = planField{writerName: wf.name, conv: c}
	}
	return p, nil
}

// apply maps a decoded writer record onto reader values, in reader order.
// It returns the failing reader field index with any error.
func (p *plan) apply(rec map[string]any, out []any) (int, error) {
	for i, f := range p.fields {
		if f.writerName == "" {
			out[i] = f.dflt
			continue
		}
		v, err := f.conv(rec[f.writerName])
		if err != nil {
			return i, err
		}
		out[i] = v
	}
	return -1, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
