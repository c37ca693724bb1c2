package schemas

//go:generate go run ./internal/recordgen

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Layouts of the string-typed date and time fields.
const (
	// ReadingDateLayout is the layout of Reading.Date (MM-DD-YY).
	ReadingDateLayout = "01-02-06"
	// ClockLayout is the layout of Reading.Time and DeviceWindow.Time.
	ClockLayout = "15:04:05"
	// TimestampLayout is the layout of Reading.Timestamp without a zone.
	TimestampLayout = "2006-01-02 15:04:05"
	// WindowDateLayout is the layout of DeviceWindow.Date (MM/DD/YYYY), as in
	// the MTA weekly files and the warehouse.
	WindowDateLayout = "01/02/2006"
)

// Reading is one turnstile register reading: the TurnstileReading record.
// Field comments name the Avro field.
type Reading struct {
	CA        string // CA: control area (booth), e.g. A002
	Unit      string // UNIT: remote unit of the station, e.g. R051
	SCP       string // SCP: subunit channel position (the turnstile), e.g. 02-00-00
	Station   string // STATION, e.g. 59 ST
	LineName  string // LINENAME, e.g. NQR456W
	Division  string // DIVISION, e.g. BMT
	Date      string // DATE: MM-DD-YY
	Time      string // TIME: HH:MM:SS
	Desc      string // DESC: REGULAR or RECOVR AUD
	Entries   int64  // ENTRIES: cumulative entries register
	Exits     int64  // EXITS: cumulative exits register
	ID        string // ID: message UUID; a resent duplicate has the same ID
	Timestamp string // TIMESTAMP: YYYY-MM-DD HH:MM:SS, UTC unless it has a zone

	// EventTime is v2's EVENT_TIME; the zero Time stands for null (absent,
	// or written with v1). Millisecond precision on the wire.
	EventTime time.Time
	// Source is v2's SOURCE; "" stands for null.
	Source string
}

// DeviceKey returns the device key CA|UNIT|SCP.
func (r *Reading) DeviceKey() string { return DeviceKey(r.CA, r.Unit, r.SCP) }

// StationKey returns the station key STATION|LINENAME.
func (r *Reading) StationKey() string { return StationKey(r.Station, r.LineName) }

// ParseEventTime returns the reading's event time: EventTime when set (v2
// EVENT_TIME), otherwise TIMESTAMP parsed by [ParseTimestamp] (UTC when it
// has no zone).
func (r *Reading) ParseEventTime() (time.Time, error) {
	if !r.EventTime.IsZero() {
		return r.EventTime.UTC(), nil
	}
	t, err := ParseTimestamp(r.Timestamp)
	if err != nil {
		return time.Time{}, &FieldError{Field: "TIMESTAMP", Value: r.Timestamp, Reason: err.Error()}
	}
	return t, nil
}

// Validate checks the domain rules of a reading: non-empty device and
// station fields without the key separator, valid UTF-8, non-negative
// counters, a non-empty ID, and parsable DATE, TIME and TIMESTAMP. It returns
// a *FieldError naming the first offending Avro field.
func (r *Reading) Validate() error {
	_, err := r.ValidateTime()
	return err
}

// ValidateTime is Validate returning the reading's event time as
// ParseEventTime does, parsing TIMESTAMP once.
func (r *Reading) ValidateTime() (time.Time, error) {
	required := []struct{ name, v string }{
		{"CA", r.CA}, {"UNIT", r.Unit}, {"SCP", r.SCP}, {"STATION", r.Station}, {"ID", r.ID},
	}
	for _, f := range required {
		if strings.TrimSpace(f.v) == "" {
			return time.Time{}, &FieldError{Field: f.name, Value: f.v, Reason: "empty"}
		}
	}
	strs := []struct{ name, v string }{
		{"CA", r.CA}, {"UNIT", r.Unit}, {"SCP", r.SCP}, {"STATION", r.Station},
		{"LINENAME", r.LineName}, {"DIVISION", r.Division}, {"DATE", r.Date}, {"TIME", r.Time},
		{"DESC", r.Desc}, {"ID", r.ID}, {"TIMESTAMP", r.Timestamp}, {"SOURCE", r.Source},
	}
	for i, f := range strs {
		if !utf8.ValidString(f.v) {
			return time.Time{}, &FieldError{Field: f.name, Value: f.v, Reason: "invalid UTF-8"}
		}
		if i < 5 && strings.Contains(f.v, KeySeparator) { // key parts
			return time.Time{}, &FieldError{Field: f.name, Value: f.v, Reason: "contains the key separator " + KeySeparator}
		}
	}
	if r.Entries < 0 {
		return time.Time{}, &FieldError{Field: "ENTRIES", Value: fmt.Sprint(r.Entries), Reason: "negative counter"}
	}
	if r.Exits < 0 {
		return time.Time{}, &FieldError{Field: "EXITS", Value: fmt.Sprint(r.Exits), Reason: "negative counter"}
	}
	if !validReadingDate(r.Date) {
		return time.Time{}, &FieldError{Field: "DATE", Value: r.Date, Reason: "not MM-DD-YY"}
	}
	if _, err := ParseClock(r.Time); err != nil {
		return time.Time{}, &FieldError{Field: "TIME", Value: r.Time, Reason: "not HH:MM:SS"}
	}
	ts, err := ParseTimestamp(r.Timestamp)
	if err != nil {
		return time.Time{}, &FieldError{Field: "TIMESTAMP", Value: r.Timestamp, Reason: err.Error()}
	}
	if !r.EventTime.IsZero() {
		return r.EventTime.UTC(), nil
	}
	return ts, nil
}

// ReadingTime returns DATE and TIME combined as a clock reading, labelled
// UTC: the record does not say their zone (MTA data is New York local
// time; TIMESTAMP and EVENT_TIME are the instant).
func (r *Reading) ReadingTime() (time.Time, error) {
	d, err := time.Parse(ReadingDateLayout, r.Date)
	if err != nil {
		return time.Time{}, &FieldError{Field: "DATE", Value: r.Date, Reason: "not MM-DD-YY"}
	}
	c, err := ParseClock(r.Time)
	if err != nil {
		return time.Time{}, &FieldError{Field: "TIME", Value: r.Time, Reason: "not HH:MM:SS"}
	}
	return d.Add(c), nil
}

// SetTimes sets DATE, TIME and TIMESTAMP from t (converted to UTC) and leaves
// EventTime alone.
func (r *Reading) SetTimes(t time.Time) {
	t = t.UTC()
	r.Date = t.Format(ReadingDateLayout)
	r.Time = t.Format(ClockLayout)
	r.Timestamp = t.Format(TimestampLayout)
}

// timestampLayouts are tried in order by ParseTimestamp; the first two have
// no zone and are read as UTC.
var timestampLayouts = [...]string{
	TimestampLayout,
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	time.RFC3339,
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05 -07:00",
}

// ParseTimestamp parses a TIMESTAMP value: "YYYY-MM-DD HH:MM:SS" (or with a
// T) is read as UTC; a trailing zone (Z, ±hh:mm, ±hhmm) is honoured.
// Fractional seconds are accepted. The result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	if t, ok := fastTimestamp(s); ok {
		return t, nil
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("schemas: timestamp %q is not YYYY-MM-DD HH:MM:SS[zone]", s)
}

// ParseClock parses HH:MM:SS (00:00:00 to 23:59:59) into the time of day.
func ParseClock(s string) (time.Duration, error) {
	if d, ok := fastClock(s); ok {
		return d, nil
	}
	t, err := time.Parse(ClockLayout, s)
	if err != nil || len(s) != len(ClockLayout) {
		return 0, fmt.Errorf("schemas: time %q is not HH:MM:SS", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second, nil
}

// WindowEndFields formats a window end as the DATE (MM/DD/YYYY) and TIME
// (HH:MM:SS) of a TurnstileWindow: its local date and clock in zone (nil:
// UTC), the layout of the MTA files and the warehouse, whose dates and
// times are New York's.
func WindowEndFields(end time.Time, zone *time.Location) (date, clock string) {
	if zone == nil {
		zone = time.UTC
	}
	return endFields(end.In(zone))
}

// maxZoneOffset bounds the UTC offsets Validate accepts between a window's
// END and its DATE and TIME (UTC-12 to UTC+14 are the extremes in use).
const maxZoneOffset = 14 * time.Hour

// endFieldsOffset returns how far DATE and TIME, read as a clock, are from
// END in UTC: the UTC offset of the zone they were formatted in.
func endFieldsOffset(date, clock string, end time.Time) (time.Duration, error) {
	d, err := time.Parse(WindowDateLayout, date)
	if err != nil {
		return 0, err
	}
	c, err := ParseClock(clock)
	if err != nil {
		return 0, err
	}
	return d.Add(c).Sub(end.UTC().Truncate(time.Second)), nil
}

// DeviceWindow is the TurnstileWindow record: one device's activity in one
// closed event-time window [Start, End). This is its one declaration: the
// avro tag of each field names its Avro field, and the window codecs, the
// dashboard's JSON and the lake's rows are generated from it (see the
// package documentation).
type DeviceWindow struct {
	CA       string `avro:"CA"`
	Unit     string `avro:"UNIT"`
	SCP      string `avro:"SCP"`
	Station  string `avro:"STATION"`
	LineName string `avro:"LINENAME"`
	Division string `avro:"DIVISION"`
	Date     string `avro:"DATE"`    // window end, MM/DD/YYYY
	Time     string `avro:"TIME"`    // window end, HH:MM:SS
	Desc     string `avro:"DESC"`    // of the window's last reading
	Entries  int64  `avro:"ENTRIES"` // in the window
	Exits    int64  `avro:"EXITS"`   // in the window

	Start      time.Time `avro:"START"`      // timestamp-millis, inclusive
	End        time.Time `avro:"END"`        // timestamp-millis, exclusive
	Revision   int32     `avro:"REVISION"`   // 1 for the first emission
	Generation int32     `avro:"GENERATION"` // replay generation, default 0
	EmittedAt  time.Time `avro:"EMITTED_AT"` // timestamp-millis
}

// DeviceKey returns CA|UNIT|SCP.
func (w *DeviceWindow) DeviceKey() string { return DeviceKey(w.CA, w.Unit, w.SCP) }

// StationKey returns STATION|LINENAME.
func (w *DeviceWindow) StationKey() string { return StationKey(w.Station, w.LineName) }

// SetWindow sets Start and End and derives DATE and TIME from End, as
// End's local date and clock in zone (nil: UTC; see WindowEndFields).
func (w *DeviceWindow) SetWindow(start, end time.Time, zone *time.Location) {
	w.Start, w.End = start.UTC(), end.UTC()
	w.Date, w.Time = WindowEndFields(end, zone)
}

// Validate checks a device window: non-empty device fields, Start before
// End, a positive REVISION, and DATE/TIME that are End's local date and
// clock in some zone: a whole number of quarter hours from End in UTC,
// at most 14 hours (every zone's offset since 1972 is; the record does
// not say which zone).
func (w *DeviceWindow) Validate() error {
	for _, f := range []struct{ name, v string }{{"CA", w.CA}, {"UNIT", w.Unit}, {"SCP", w.SCP}, {"STATION", w.Station}} {
		if strings.TrimSpace(f.v) == "" {
			return &FieldError{Field: f.name, Value: f.v, Reason: "empty"}
		}
	}
	if err := validateSpan(w.Start, w.End, w.Revision, w.Generation); err != nil {
		return err
	}
	off, err := endFieldsOffset(w.Date, w.Time, w.End)
	if err != nil || off < -maxZoneOffset || off > maxZoneOffset || off%(15*time.Minute) != 0 {
		d, c := WindowEndFields(w.End, nil)
		return &FieldError{Field: "DATE", Value: w.Date + " " + w.Time, Reason: "is not END (" + d + " " + c + " UTC) in any time zone"}
	}
	return nil
}

// StationWindow is the StationWindow record: one station's activity in one
// closed event-time window [Start, End), summed over its devices. Like
// DeviceWindow, this is its one declaration.
type StationWindow struct {
	Station    string    `avro:"STATION"`
	LineName   string    `avro:"LINENAME"`
	Division   string    `avro:"DIVISION"`
	Start      time.Time `avro:"START"` // timestamp-millis, inclusive
	End        time.Time `avro:"END"`   // timestamp-millis, exclusive
	Entries    int64     `avro:"ENTRIES"`
	Exits      int64     `avro:"EXITS"`
	Devices    int32     `avro:"DEVICES"`    // that contributed
	Revision   int32     `avro:"REVISION"`   // 1 for the first emission
	Generation int32     `avro:"GENERATION"` // replay generation, default 0
	EmittedAt  time.Time `avro:"EMITTED_AT"` // timestamp-millis
}

// StationKey returns STATION|LINENAME.
func (w *StationWindow) StationKey() string { return StationKey(w.Station, w.LineName) }

// Validate checks a station window: a non-empty STATION, Start before End, a
// positive REVISION and non-negative DEVICES.
func (w *StationWindow) Validate() error {
	if strings.TrimSpace(w.Station) == "" {
		return &FieldError{Field: "STATION", Value: w.Station, Reason: "empty"}
	}
	if w.Devices < 0 {
		return &FieldError{Field: "DEVICES", Value: fmt.Sprint(w.Devices), Reason: "negative"}
	}
	return validateSpan(w.Start, w.End, w.Revision, w.Generation)
}

func validateSpan(start, end time.Time, revision, generation int32) error {
	if !start.Before(end) {
		return &FieldError{Field: "END", Value: end.UTC().Format(time.RFC3339), Reason: "not after START " + start.UTC().Format(time.RFC3339)}
	}
	if revision < 1 {
		return &FieldError{Field: "REVISION", Value: fmt.Sprint(revision), Reason: "must be at least 1"}
	}
	if generation < 0 {
		return &FieldError{Field: "GENERATION", Value: fmt.Sprint(generation), Reason: "negative"}
	}
	return nil
}
