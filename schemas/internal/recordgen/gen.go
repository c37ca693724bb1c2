package main

import (
	"bytes"
	"fmt"
	"go/format"
	"reflect"
	"strings"
	"text/template"

	"github.com/turnstile-streams/turnstile/schemas"
)

// record is one sink record: its Go declaration, its Avro schema and its
// layout in the data lake.
type record struct {
	Type   reflect.Type
	Schema schemas.Schema
	Short  string // "device": deviceJSON, deviceCSVColumns, ...
	Lake   lake

	Fields     []field // from fieldsOf: in Go declaration order
	AvroFields []field // the same in the Avro schema's order
}

// lake is a record's layout in the data lake: the columns of the MTA
// warehouse's CSV files, and the Parquet row, whose columns are the CSV
// columns and then the record's other fields in declaration order.
type lake struct {
	Row string   // the Parquet row type, e.g. DeviceRow
	CSV []string // the CSV columns, Avro field names or Extra columns
	// Extra are CSV columns that are not fields of the record: strings the
	// writer passes in.
	Extra []extra
}

type extra struct {
	Avro, Go string
	Param    string // the parameter of the row and CSV functions
}

// column is one column of a lake row or CSV file.
type column struct {
	field
	Param string // for an Extra column, else ""
}

// records lists the sink records.
func records() []record {
	return []record{
		{Type: reflect.TypeFor[schemas.DeviceWindow](), Schema: schemas.DeviceWindowSchema(), Short: "device",
			Lake: lake{Row: "DeviceRow", CSV: strings.Fields("CA UNIT SCP STATION LINENAME DIVISION DATE TIME DESC ENTRIES EXITS")}},
		// A station window's DATE and TIME are its end's local date and
		// clock in the lake's zone, as a device window's are in the
		// pipeline's.
		{Type: reflect.TypeFor[schemas.StationWindow](), Schema: schemas.StationWindowSchema(), Short: "station",
			Lake: lake{Row: "StationRow", CSV: strings.Fields("STATION LINENAME DIVISION DATE TIME ENTRIES EXITS DEVICES"),
				Extra: []extra{{Avro: "DATE", Go: "Date", Param: "date"}, {Avro: "TIME", Go: "Time", Param: "clock"}}}},
	}
}

// Name is the Go type's name, e.g. DeviceWindow.
func (r record) Name() string { return r.Type.Name() }

// AvroName is the Avro record's name without its namespace, e.g.
// TurnstileWindow.
func (r record) AvroName() string { return r.Schema.Name[strings.LastIndex(r.Schema.Name, ".")+1:] }

// Lower is Name with a lower-case first letter, e.g. deviceWindow.
func (r record) Lower() string { return strings.ToLower(r.Name()[:1]) + r.Name()[1:] }

// CSVColumns are the record's CSV columns.
func (r record) CSVColumns() ([]column, error) {
	var out []column
	for _, name := range r.Lake.CSV {
		c, ok := r.column(name)
		if !ok {
			return nil, fmt.Errorf("%s: CSV column %s is neither a field nor an extra column", r.Name(), name)
		}
		if c.Kind == kindTime {
			return nil, fmt.Errorf("%s: CSV column %s is a time; the warehouse layout has DATE and TIME strings", r.Name(), name)
		}
		out = append(out, c)
	}
	return out, nil
}

// RowColumns are the columns of the record's Parquet row: the CSV
// columns, then the record's other fields.
func (r record) RowColumns() ([]column, error) {
	out, err := r.CSVColumns()
	if err != nil {
		return nil, err
	}
	for _, f := range r.Fields {
		if !contains(r.Lake.CSV, f.Avro) {
			out = append(out, column{field: f})
		}
	}
	return out, nil
}

// Params are the extra columns' parameters, "date, clock string".
func (r record) Params() string {
	var ps []string
	for _, e := range r.Lake.Extra {
		ps = append(ps, e.Param)
	}
	if len(ps) == 0 {
		return ""
	}
	return strings.Join(ps, ", ") + " string"
}

func (r record) column(name string) (column, bool) {
	for _, f := range r.Fields {
		if f.Avro == name {
			return column{field: f}, true
		}
	}
	for _, e := range r.Lake.Extra {
		if e.Avro == name {
			return column{field: field{Go: e.Go, Avro: e.Avro, Kind: kindString}, Param: e.Param}, true
		}
	}
	return column{}, false
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// file is one generated file, its path relative to the repository root.
type file struct {
	path string
	text []byte
}

// generate checks the records and returns the generated files.
func generate() ([]file, error) {
	recs := records()
	for i := range recs {
		fs, avroOrder, err := fieldsInBothOrders(recs[i].Type, recs[i].Schema)
		if err != nil {
			return nil, err
		}
		recs[i].Fields, recs[i].AvroFields = fs, avroOrder
	}
	var out []file
	for _, t := range []struct{ path, tmpl string }{
		{"codecs/window_gen.go", codecsTmpl},
		{"dashboard/window_gen.go", dashboardTmpl},
		{"datalake/window_gen.go", datalakeTmpl},
	} {
		tmpl, err := template.New(t.path).Parse(header + t.tmpl)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, recs); err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, err)
		}
		src, err := format.Source(buf.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", t.path, err, buf.Bytes())
		}
		out = append(out, file{path: t.path, text: src})
	}
	return out, nil
}

const header = `// Code generated by schemas/internal/recordgen from schemas/types.go; DO NOT EDIT.

`

// codecsTmpl: each record's Avro binary encoding and its setter by field
// number.
const codecsTmpl = `package codecs

import (
	"encoding/binary"

	"github.com/turnstile-streams/turnstile/schemas"
)
{{range .}}
// {{.Lower}} is how the window codecs write and read schemas.{{.Name}}.
var {{.Lower}} = record[schemas.{{.Name}}]{
	names: []string{ {{- range $i, $f := .Fields}}{{if $i}}, {{end}}"{{.Avro}}"{{end -}} },
	append: append{{.Name}},
	set: set{{.Name}},
}

// append{{.Name}} appends w's Avro binary encoding with
// schemas/{{.Schema.File}}: its fields in the schema's order,
// strings as a length and bytes; long, int and timestamp-millis (Unix
// milliseconds) as zig-zag varints.
func append{{.Name}}(buf []byte, w *schemas.{{.Name}}) []byte {
{{- range .AvroFields}}
	buf = {{if eq .Kind "string"}}appendAvroString(buf, w.{{.Go}}){{else if eq .Kind "time.Time"}}binary.AppendVarint(buf, w.{{.Go}}.UnixMilli()){{else if eq .Kind "int32"}}binary.AppendVarint(buf, int64(w.{{.Go}})){{else}}binary.AppendVarint(buf, w.{{.Go}}){{end}}
{{- end}}
	return buf
}

// set{{.Name}} sets field i of w (in the order of {{.Lower}}.names) to a
// decoded value (direct.go's flatValue).
func set{{.Name}}(w *schemas.{{.Name}}, i int, v flatValue) {
	switch i {
{{- range $i, $f := .Fields}}
	case {{$i}}:
		w.{{.Go}} = {{if eq .Kind "string"}}v.s{{else if eq .Kind "time.Time"}}v.t{{else if eq .Kind "int32"}}int32(v.n){{else}}v.n{{end}}
{{- end}}
	}
}
{{end -}}
`

// dashboardTmpl: each record as JSON, named by its Avro fields, times in
// UTC.
const dashboardTmpl = `package dashboard

import (
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)
{{range .}}
// {{.Name}} is a {{.AvroName}} record (schemas.{{.Name}}) as JSON: its
// fields named by their Avro names, times in UTC.
type {{.Name}} struct {
{{- range .Fields}}
	{{.Go}} {{.Kind}} ` + "`" + `json:"{{.Avro}}"` + "`" + `
{{- end}}
}

// {{.Short}}JSON returns w as JSON: the record with JSON tags, its times in
// UTC.
func {{.Short}}JSON(w *schemas.{{.Name}}) {{.Name}} {
	j := {{.Name}}(*w)
{{- range .Fields}}{{if eq .Kind "time.Time"}}
	j.{{.Go}} = j.{{.Go}}.UTC(){{end}}{{end}}
	return j
}
{{end -}}
`

// datalakeTmpl: each record's CSV columns and fields, and its Parquet row
// (strings dictionary-encoded, times TIMESTAMP(MILLIS, UTC)) with its
// conversions.
const datalakeTmpl = `package datalake

import (
	"strconv"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// The CSV columns of each dataset, after the optional unnamed index
// column: the MTA warehouse's layout. Read-only; see DeviceCSVColumns and
// StationCSVColumns.
var (
{{- range .}}
	{{.Short}}CSVColumns = []string{ {{- range $i, $c := .Lake.CSV}}{{if $i}}, {{end}}"{{$c}}"{{end -}} }
{{- end}}
)
{{range .}}{{$rec := .}}
// {{.Short}}CSVFields returns a {{.Short}} window's CSV fields, without the
// index{{if .Params}}, with the given {{range $i, $e := .Lake.Extra}}{{if $i}} and {{end}}{{$e.Avro}}{{end}}{{end}}.
func {{.Short}}CSVFields(w *schemas.{{.Name}}, {{with .Params}}{{.}}, {{end}}dst []string) []string {
	return append(dst[:0],
{{- range .CSVColumns}}
		{{if .Param}}{{.Param}}{{else if eq .Kind "string"}}w.{{.Go}}{{else if eq .Kind "int64"}}strconv.FormatInt(w.{{.Go}}, 10){{else}}strconv.FormatInt(int64(w.{{.Go}}), 10){{end}},
{{- end}}
	)
}

// {{.Lake.Row}} is one {{.Short}} window in a Parquet file: the CSV columns,
// then the record's other fields. Columns are named like the Avro fields;
// strings are dictionary-encoded, timestamps TIMESTAMP(MILLIS, UTC).
type {{.Lake.Row}} struct {
{{- range .RowColumns}}
	{{.Go}} {{.Kind}} ` + "`" + `parquet:"{{.Avro}}{{if eq .Kind "string"}},dict{{else if eq .Kind "time.Time"}},timestamp(millisecond:utc){{end}}"` + "`" + `
{{- end}}
}

// {{.Short}}Row converts a {{.Short}} window, its times to the millisecond
// in UTC.
func {{.Short}}Row(w *schemas.{{.Name}}{{with .Params}}, {{.}}{{end}}) {{.Lake.Row}} {
	return {{.Lake.Row}}{
{{- range .RowColumns}}
		{{.Go}}: {{if .Param}}{{.Param}}{{else}}w.{{.Go}}{{if eq .Kind "time.Time"}}.UTC().Truncate(time.Millisecond){{end}}{{end}},
{{- end}}
	}
}

// window returns the row's {{.Short}} window.
func (r *{{.Lake.Row}}) window() schemas.{{.Name}} {
	return schemas.{{.Name}}{
{{- range .Fields}}
		{{.Go}}: r.{{.Go}},
{{- end}}
	}
}
{{end -}}
`
