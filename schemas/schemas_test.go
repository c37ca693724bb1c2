package schemas

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

type avsc struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Fields    []struct {
		Name    string          `json:"name"`
		Type    json.RawMessage `json:"type"`
		Default json.RawMessage `json:"default"`
	} `json:"fields"`
}

func parse(t *testing.T, s Schema) avsc {
	t.Helper()
	if _, err := goavro.NewCodec(s.Text); err != nil {
		t.Fatalf("%s: goavro: %v", s.File, err)
	}
	var a avsc
	if err := json.Unmarshal([]byte(s.Text), &a); err != nil {
		t.Fatal(err)
	}
	if got := a.Namespace + "." + a.Name; got != s.Name {
		t.Fatalf("%s: name %s, catalogue says %s", s.File, got, s.Name)
	}
	return a
}

func fieldNames(a avsc) []string {
	var out []string
	for _, f := range a.Fields {
		out = append(out, f.Name)
	}
	return out
}

func TestAllSchemasParse(t *testing.T) {
	all := All()
	if len(all) != 4 {
		t.Fatalf("%d schemas", len(all))
	}
	for _, s := range all {
		if s.Text == "" {
			t.Fatalf("%s: empty", s.File)
		}
		parse(t, s)
	}
}

func TestReadingMirrorsOriginalMessage(t *testing.T) {
	original := strings.Split("CA,UNIT,SCP,STATION,LINENAME,DIVISION,DATE,TIME,DESC,ENTRIES,EXITS,ID,TIMESTAMP", ",")
	v1, err := ReadingSchema(1)
	if err != nil {
		t.Fatal(err)
	}
	a1 := parse(t, v1)
	if got := fieldNames(a1); !reflect.DeepEqual(got, original) {
		t.Fatalf("v1 fields %v", got)
	}
	for _, f := range a1.Fields {
		want := `"string"`
		if f.Name == "ENTRIES" || f.Name == "EXITS" {
			want = `"long"`
		}
		if string(f.Type) != want {
			t.Errorf("v1 %s type %s, want %s", f.Name, f.Type, want)
		}
	}
	v2 := LatestReadingSchema()
	if v2.Version != 2 {
		t.Fatalf("latest is v%d", v2.Version)
	}
	a2 := parse(t, v2)
	if got := fieldNames(a2); !reflect.DeepEqual(got, append(original, "EVENT_TIME", "SOURCE")) {
		t.Fatalf("v2 fields %v", got)
	}
	for _, f := range a2.Fields[len(original):] {
		if string(f.Default) != "null" || !strings.HasPrefix(string(f.Type), `["null"`) {
			t.Errorf("v2 field %s must be a nullable union defaulting to null: %s %s", f.Name, f.Type, f.Default)
		}
	}
	if !strings.Contains(string(a2.Fields[13].Type), `"timestamp-millis"`) {
		t.Errorf("EVENT_TIME type %s", a2.Fields[13].Type)
	}
	if _, err := ReadingSchema(3); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("v3: %v", err)
	}
}

func TestWindowSchemas(t *testing.T) {
	dw := parse(t, DeviceWindowSchema())
	want := strings.Split("CA,UNIT,SCP,STATION,LINENAME,DIVISION,DATE,TIME,DESC,ENTRIES,EXITS,START,END,REVISION,GENERATION,EMITTED_AT", ",")
	if got := fieldNames(dw); !reflect.DeepEqual(got, want) {
		t.Fatalf("TurnstileWindow fields %v", got)
	}
	sw := parse(t, StationWindowSchema())
	want = strings.Split("STATION,LINENAME,DIVISION,START,END,ENTRIES,EXITS,DEVICES,REVISION,GENERATION,EMITTED_AT", ",")
	if got := fieldNames(sw); !reflect.DeepEqual(got, want) {
		t.Fatalf("StationWindow fields %v", got)
	}
	for _, a := range []avsc{dw, sw} {
		for _, f := range a.Fields {
			if f.Name == "GENERATION" && string(f.Default) != "0" {
				t.Errorf("%s.GENERATION default %s", a.Name, f.Default)
			}
		}
	}
}

func TestTopics(t *testing.T) {
	d := DefaultTopics()
	var zero Topics
	if zero.Defaults(); zero != d {
		t.Fatal("zero Topics should take the defaults")
	}
	if d.Input != "mta-turnstile" || d.DeviceWindows != "mta-turnstile-windows" || d.StationWindows != "mta-station-windows" ||
		d.DeadLetters != "mta-turnstile-dlq" || d.Late != "mta-turnstile-late" {
		t.Fatalf("defaults %+v", d)
	}
	custom := Topics{Input: "in"}
	custom.Defaults()
	if custom.Input != "in" || custom.Late != d.Late {
		t.Fatalf("%+v", custom)
	}
	var got []string
	for _, r := range (Topics{Input: "in"}).Registrations() {
		got = append(got, r.Subject+" "+r.Schema.Name[len(Namespace)+1:]+" v"+string(rune('0'+r.Schema.Version)))
	}
	want := []string{
		"in-value TurnstileReading v1", "in-value TurnstileReading v2",
		"mta-turnstile-late-value TurnstileReading v1", "mta-turnstile-late-value TurnstileReading v2",
		"mta-turnstile-windows-value TurnstileWindow v1", "mta-station-windows-value StationWindow v1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("registrations\n%v\nwant\n%v", got, want)
	}
}

func sample() Reading {
	return Reading{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W", Division: "BMT",
		Date: "12-30-23", Time: "03:00:00", Desc: "REGULAR", Entries: 102019, Exits: 73801,
		ID: "5f0e3c52-8a38-5c4e-9a4e-2f1c6f8a7b10", Timestamp: "2023-12-30 03:00:00"}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		mut   func(*Reading)
		field string
	}{
		{"ok", func(*Reading) {}, ""},
		{"ok zero counters", func(r *Reading) { r.Entries, r.Exits = 0, 0 }, ""},
		{"ok empty linename", func(r *Reading) { r.LineName = "" }, ""},
		{"empty CA", func(r *Reading) { r.CA = "" }, "CA"},
		{"empty UNIT", func(r *Reading) { r.Unit = " " }, "UNIT"},
		{"empty SCP", func(r *Reading) { r.SCP = "" }, "SCP"},
		{"empty STATION", func(r *Reading) { r.Station = "" }, "STATION"},
		{"empty ID", func(r *Reading) { r.ID = "" }, "ID"},
		{"separator", func(r *Reading) { r.SCP = "a|b" }, "SCP"},
		{"bad utf8", func(r *Reading) { r.Desc = "\xc3" }, "DESC"},
		{"negative entries", func(r *Reading) { r.Entries = -1 }, "ENTRIES"},
		{"negative exits", func(r *Reading) { r.Exits = -1 }, "EXITS"},
		{"long date", func(r *Reading) { r.Date = "12-30-2023" }, "DATE"},
		{"slash date", func(r *Reading) { r.Date = "12/30/23" }, "DATE"},
		{"month 13", func(r *Reading) { r.Date = "13-01-23" }, "DATE"},
		{"short time", func(r *Reading) { r.Time = "3:00:00" }, "TIME"},
		{"hour 24", func(r *Reading) { r.Time = "24:00:00" }, "TIME"},
		{"bad timestamp", func(r *Reading) { r.Timestamp = "2023-12-30" }, "TIMESTAMP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sample()
			tt.mut(&r)
			err := r.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("got %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	utc := time.Date(2023, 12, 30, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2023-12-30 03:00:00", utc, true},
		{"2023-12-30T03:00:00", utc, true},
		{"2023-12-30T03:00:00Z", utc, true},
		{"2023-12-30 03:00:00.250", utc.Add(250 * time.Millisecond), true},
		{"2023-12-30T03:00:00-05:00", utc.Add(5 * time.Hour), true},
		{"2023-12-30 03:00:00-05:00", utc.Add(5 * time.Hour), true},
		{"2023-12-30 03:00:00 +0100", utc.Add(-time.Hour), true},
		{"12/30/2023 03:00:00", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := ParseTimestamp(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) || (tt.ok && got.Location() != time.UTC) {
			t.Errorf("ParseTimestamp(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestEventTime(t *testing.T) {
	r := sample()
	got, err := r.ParseEventTime()
	if err != nil || !got.Equal(time.Date(2023, 12, 30, 3, 0, 0, 0, time.UTC)) {
		t.Fatal(got, err)
	}
	et := time.Date(2023, 12, 30, 8, 0, 0, 0, time.FixedZone("EST", -5*3600))
	r.EventTime = et
	if got, _ := r.ParseEventTime(); !got.Equal(et) || got.Location() != time.UTC {
		t.Fatalf("EVENT_TIME wins: %v", got)
	}
	r = sample()
	r.Timestamp = "garbage"
	var fe *FieldError
	if _, err := r.ParseEventTime(); !errors.As(err, &fe) || fe.Field != "TIMESTAMP" {
		t.Fatal(err)
	}
	r = sample()
	if rt, err := r.ReadingTime(); err != nil || !rt.Equal(time.Date(2023, 12, 30, 3, 0, 0, 0, time.UTC)) {
		t.Fatal(rt, err)
	}
	r.SetTimes(time.Date(2024, 1, 5, 23, 1, 2, 0, time.UTC))
	if r.Date != "01-05-24" || r.Time != "23:01:02" || r.Timestamp != "2024-01-05 23:01:02" {
		t.Fatalf("%+v", r)
	}
}

func TestKeys(t *testing.T) {
	r := sample()
	if k := r.DeviceKey(); k != "A002|R051|02-00-00" {
		t.Fatal(k)
	}
	if k := r.StationKey(); k != "59 ST|NQR456W" {
		t.Fatal(k)
	}
	if ca, unit, scp, ok := SplitDeviceKey(r.DeviceKey()); !ok || ca != "A002" || unit != "R051" || scp != "02-00-00" {
		t.Fatal(ca, unit, scp, ok)
	}
	if _, _, _, ok := SplitDeviceKey("a|b"); ok {
		t.Fatal("two parts split as a device key")
	}
	if st, ln, ok := SplitStationKey("59 ST|NQR456W"); !ok || st != "59 ST" || ln != "NQR456W" {
		t.Fatal(st, ln, ok)
	}
	if _, _, ok := SplitStationKey("a|b|c"); ok {
		t.Fatal("three parts split as a station key")
	}
}

func TestWindowValidate(t *testing.T) {
	start := time.Date(2023, 12, 30, 0, 0, 0, 0, time.UTC)
	w := DeviceWindow{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", Revision: 1}
	w.SetWindow(start, start.Add(4*time.Hour), nil)
	if w.Date != "12/30/2023" || w.Time != "04:00:00" {
		t.Fatalf("end fields %s %s", w.Date, w.Time)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	// In New York the end (04:00 UTC) is the evening before, in EST.
	ny := w
	ny.SetWindow(start, start.Add(4*time.Hour), DefaultLocation())
	if ny.Date != "12/29/2023" || ny.Time != "23:00:00" {
		t.Fatalf("New York end fields %s %s", ny.Date, ny.Time)
	}
	if err := ny.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ date, clock string }{
		{"12/30/2023", "04:07:00"}, // no zone is 7 minutes off UTC
		{"12/31/2023", "04:00:00"}, // a day off
		{"12/30/2023", "19:00:00"}, // 15 hours ahead
		{"12/30/2023", "4:00:00"},  // not HH:MM:SS
		{"2023-12-30", "04:00:00"}, // not MM/DD/YYYY
	} {
		bad := w
		bad.Date, bad.Time = f.date, f.clock
		if bad.Validate() == nil {
			t.Errorf("DATE/TIME %s %s accepted for END 04:00 UTC", f.date, f.clock)
		}
	}
	bad := w
	bad.End = bad.Start
	if bad.Validate() == nil {
		t.Error("empty window accepted")
	}
	s := StationWindow{Station: "59 ST", Start: start, End: start.Add(time.Hour), Revision: 1, Devices: 3}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	s.Revision = 0
	if s.Validate() == nil {
		t.Error("revision 0 accepted")
	}
}

func TestLoadTimeZone(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"America/New_York", true}, {"UTC", true}, {"Europe/Paris", true},
		{"", false}, {"America/New_Yrok", false}, {"EST5EDT,M3.2.0", false},
	} {
		loc, err := LoadTimeZone(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("LoadTimeZone(%q) = %v, %v", tc.name, loc, err)
		}
		if err != nil && !strings.Contains(err.Error(), "IANA") {
			t.Errorf("LoadTimeZone(%q): %v does not say what is wanted", tc.name, err)
		}
	}
	if DefaultLocation().String() != DefaultTimeZone {
		t.Fatalf("default location %v", DefaultLocation())
	}
}
