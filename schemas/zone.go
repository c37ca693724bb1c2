package schemas

import (
	"errors"
	"fmt"
	"sync"
	"time"
	// The zone database is compiled in (about 450 KB), so that the default
	// zone, and any zone a user names, loads on a machine or image without
	// one (a distroless or scratch image, a fresh Windows box).
	_ "time/tzdata"
)

// DefaultTimeZone is the zone of the MTA's DATE and TIME: New York local
// time. The pipeline formats the DATE and TIME of the windows it publishes
// in it, and the CSV producer reads a weekly file's DATE and TIME in it,
// unless told otherwise (--time-zone).
const DefaultTimeZone = "America/New_York"

// LoadTimeZone loads an IANA time zone by name ("America/New_York",
// "Europe/Paris", "UTC"; "Local" is the machine's), with an error that says
// what is wanted when the name is unknown or empty.
func LoadTimeZone(name string) (*time.Location, error) {
	if name == "" {
		return nil, errors.New("schemas: empty time zone (want an IANA name such as America/New_York or UTC)")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("schemas: unknown time zone %q (want an IANA name such as America/New_York, Europe/London or UTC)", name)
	}
	return loc, nil
}

// newYork is DefaultTimeZone, loaded once: a *time.Location is immutable
// and safe for concurrent use.
var newYork = sync.OnceValue(func() *time.Location {
	loc, err := LoadTimeZone(DefaultTimeZone)
	if err != nil {
		// Unreachable: the zone database is compiled in (time/tzdata), and
		// LoadLocation falls back to it whatever ZONEINFO says.
		return time.UTC
	}
	return loc
})

// DefaultLocation is DefaultTimeZone's location: what a zero TimeZone in
// a configuration means.
func DefaultLocation() *time.Location { return newYork() }
