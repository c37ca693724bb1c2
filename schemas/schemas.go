package schemas

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

// Namespace is the Avro namespace of every schema in this package.
const Namespace = "nyc.mta.turnstile"

// Full Avro names of the records.
const (
	ReadingName       = Namespace + ".TurnstileReading"
	DeviceWindowName  = Namespace + ".TurnstileWindow"
	StationWindowName = Namespace + ".StationWindow"
)

// LatestReadingVersion is the newest TurnstileReading schema version. Readers
// decode every earlier (and every later backward-compatible) version into
// [Reading] through this schema.
const LatestReadingVersion = 2

// avroFS holds the .avsc files. It is read-only: embed.FS is immutable.
//
//go:embed avro/*.avsc
var avroFS embed.FS

// Schema is one embedded Avro schema.
type Schema struct {
	// Name is the record's full Avro name, e.g. nyc.mta.turnstile.TurnstileReading.
	Name string
	// Version is this project's version of the schema (1, 2, ...), not the
	// registry's version number under some subject.
	Version int
	// File is the path of the .avsc file inside the package, e.g.
	// avro/turnstile_reading_v2.avsc.
	File string
	// Text is the schema JSON exactly as embedded.
	Text string
}

// catalogue lists the embedded schemas in registration order. It is a
// function, not a variable, so that no caller can mutate it.
func catalogue() []Schema {
	return []Schema{
		{Name: ReadingName, Version: 1, File: "avro/turnstile_reading_v1.avsc"},
		{Name: ReadingName, Version: 2, File: "avro/turnstile_reading_v2.avsc"},
		{Name: DeviceWindowName, Version: 1, File: "avro/turnstile_window_v1.avsc"},
		{Name: StationWindowName, Version: 1, File: "avro/station_window_v1.avsc"},
	}
}

func load(s Schema) (Schema, error) {
	b, err := fs.ReadFile(avroFS, s.File)
	if err != nil {
		return Schema{}, fmt.Errorf("schemas: read %s: %w", s.File, err)
	}
	s.Text = string(b)
	return s, nil
}

func mustLoad(s Schema) Schema {
	out, err := load(s)
	if err != nil {
		// Unreachable: the files are embedded at build time and the
		// catalogue is tested; return the descriptor without text rather
		// than panic across the package boundary.
		return s
	}
	return out
}

// All returns every embedded schema, readings first in version order.
func All() []Schema {
	cat := catalogue()
	out := make([]Schema, 0, len(cat))
	for _, s := range cat {
		out = append(out, mustLoad(s))
	}
	return out
}

// Lookup returns the embedded schema with the given full name and version.
func Lookup(name string, version int) (Schema, error) {
	for _, s := range catalogue() {
		if s.Name == name && s.Version == version {
			return load(s)
		}
	}
	return Schema{}, fmt.Errorf("%w %s version %d", ErrUnknownSchema, name, version)
}

// ReadingSchema returns TurnstileReading at the given version (1 or 2).
func ReadingSchema(version int) (Schema, error) { return Lookup(ReadingName, version) }

// LatestReadingSchema returns TurnstileReading at [LatestReadingVersion].
func LatestReadingSchema() Schema {
	s, _ := ReadingSchema(LatestReadingVersion)
	return s
}

// DeviceWindowSchema returns the TurnstileWindow schema.
func DeviceWindowSchema() Schema {
	s, _ := Lookup(DeviceWindowName, 1)
	return s
}

// StationWindowSchema returns the StationWindow schema.
func StationWindowSchema() Schema {
	s, _ := Lookup(StationWindowName, 1)
	return s
}

// ReadingVersions returns the known TurnstileReading versions, ascending.
func ReadingVersions() []int {
	var vs []int
	for _, s := range catalogue() {
		if s.Name == ReadingName {
			vs = append(vs, s.Version)
		}
	}
	sort.Ints(vs)
	return vs
}
