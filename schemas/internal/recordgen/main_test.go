package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestGeneratedFilesUpToDate fails when a checked-in generated file is not
// what the declarations generate: run go generate ./schemas.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("%d files generated, want 3", len(files))
	}
	for _, f := range files {
		have, err := os.ReadFile(filepath.Join("..", "..", "..", filepath.FromSlash(f.path)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(have, f.text) {
			t.Errorf("%s is not what schemas/types.go generates: run go generate ./schemas", f.path)
		}
	}
}

// TestDeclarationsAgreeWithSchemas: every sink record's Go declaration has
// a Go field of a compatible type for every field of its registered Avro
// schema, and every Go field holds an Avro field.
func TestDeclarationsAgreeWithSchemas(t *testing.T) {
	for _, r := range records() {
		t.Run(r.Name(), func(t *testing.T) {
			fs, err := fieldsOf(r.Type, r.Schema)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != r.Type.NumField() {
				t.Errorf("%d fields of %d", len(fs), r.Type.NumField())
			}
			for i, f := range fs {
				if sf := r.Type.Field(i); f.Go != sf.Name || f.Avro != sf.Tag.Get("avro") {
					t.Errorf("field %d is %+v, declared %s %q", i, f, sf.Name, sf.Tag)
				}
			}
			r.Fields = fs
			if _, err := r.RowColumns(); err != nil {
				t.Error(err)
			}
		})
	}
}

// mutated returns schemas.StationWindow's declaration changed by change,
// which gets its fields and returns the new ones.
func mutated(change func([]reflect.StructField) []reflect.StructField) reflect.Type {
	t := reflect.TypeFor[schemas.StationWindow]()
	fs := make([]reflect.StructField, t.NumField())
	for i := range fs {
		fs[i] = t.Field(i)
		fs[i].Index, fs[i].Offset = nil, 0
	}
	return reflect.StructOf(change(fs))
}

// retype gives the field tagged avro:name the type typ.
func retype(name string, typ reflect.Type) func([]reflect.StructField) []reflect.StructField {
	return func(fs []reflect.StructField) []reflect.StructField {
		for i := range fs {
			if fs[i].Tag.Get("avro") == name {
				fs[i].Type = typ
			}
		}
		return fs
	}
}

func TestFieldsOfRefusesDisagreement(t *testing.T) {
	s := schemas.StationWindowSchema()
	for _, tc := range []struct {
		name string
		typ  reflect.Type
		want string // in the error; "" for none
	}{
		{"as declared", mutated(func(fs []reflect.StructField) []reflect.StructField { return fs }), ""},
		{"an Avro field without a Go field", mutated(func(fs []reflect.StructField) []reflect.StructField {
			return slices.DeleteFunc(fs, func(f reflect.StructField) bool { return f.Name == "Devices" })
		}), "Avro field DEVICES has no Go field"},
		{"a Go field without a tag", mutated(func(fs []reflect.StructField) []reflect.StructField {
			return append(fs, reflect.StructField{Name: "Note", Type: reflect.TypeFor[string]()})
		}), ".Note has no avro tag"},
		{"a tag naming no Avro field", mutated(func(fs []reflect.StructField) []reflect.StructField {
			return append(fs, reflect.StructField{Name: "Borough", Type: reflect.TypeFor[string](), Tag: `avro:"BOROUGH"`})
		}), "has no field BOROUGH"},
		{"two Go fields for one Avro field", mutated(func(fs []reflect.StructField) []reflect.StructField {
			return append(fs, reflect.StructField{Name: "Name", Type: reflect.TypeFor[string](), Tag: `avro:"STATION"`})
		}), "both hold Avro field STATION"},
		{"int32 for a long", mutated(retype("ENTRIES", reflect.TypeFor[int32]())), "Go type int32 cannot hold Avro field ENTRIES"},
		{"int64 for a timestamp-millis", mutated(retype("START", reflect.TypeFor[int64]())), "Go type int64 cannot hold Avro field START"},
		{"time.Time for an int", mutated(retype("DEVICES", reflect.TypeFor[time.Time]())), "Go type time.Time cannot hold Avro field DEVICES"},
		{"a type no record has", mutated(retype("ENTRIES", reflect.TypeFor[float64]())), "float64 is not one a record field may have"},
		{"not a struct", reflect.TypeFor[string](), "is not a struct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fieldsOf(tc.typ, s)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q, want %q in it", err, tc.want)
			}
		})
	}
}
