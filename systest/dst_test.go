package systest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
	"github.com/turnstile-streams/turnstile/windows"
)

// dstFiles are the synthetic MTA excerpts around 2024's daylight-saving
// transitions in New York (see testdata/README.md).
var dstFiles = []string{"testdata/mta-dst-240310.csv", "testdata/mta-dst-241103.csv"}

func newYork(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestDaylightSavingDays replays both excerpts through the CSV producer
// (file order: each device's three days after the previous device's, so
// windows close early and are corrected) into the pipeline, with windows
// aligned to the epoch and to New York's midnight, and checks:
//   - every reading's event time is the instant readMTA works out on its
//     own (the skipped hour read in EST, the repeated hour's passes told
//     apart per device);
//   - every device and station window equals the reference's, START, END
//     (a local day is 23 or 25 hours on those days), totals and DESC;
//   - every device window's DATE and TIME are its END in New York time;
//   - every reading is applied once, none too late.
func TestDaylightSavingDays(t *testing.T) {
	ny := newYork(t)
	var readings []reference.Reading
	for _, f := range dstFiles {
		readings = append(readings, readMTA(t, f, ny)...)
	}
	for _, tc := range []struct {
		name          string
		align         windows.Alignment
		window, slide time.Duration
	}{
		{"epoch 4h", windows.AlignEpoch, 4 * time.Hour, 0},
		{"local 4h", windows.AlignLocal, 4 * time.Hour, 0},
		{"local 24h", windows.AlignLocal, 24 * time.Hour, 0},
		{"local 24h sliding 4h", windows.AlignLocal, 24 * time.Hour, 4 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cfg := s.config(t)
			cfg.Window, cfg.Slide, cfg.WindowAlign, cfg.TimeZone = tc.window, tc.slide, tc.align, ny
			cfg.Retention = 9 * 24 * time.Hour // every reading is accepted, however late in file order
			metrics, err := processors.NewMetrics(nil)
			if err != nil {
				t.Fatal(err)
			}
			runMember(t, ctx, cancel, cfg, metrics)

			topics := processors.DefaultTopics()
			var sent int64
			for _, f := range dstFiles {
				sum, err := producer.Run(ctx, producer.Config{Source: producer.SourceCSV,
					CSV:   producer.CSVConfig{Path: f, Order: producer.OrderFile, TimeZone: ny},
					Topic: topics.Input, RegistryClient: s.registry, KafkaOpts: s.kafkaOpts(),
					Speed: -1, Progress: producer.ProgressOff, Logger: cfg.Logger})
				if err != nil {
					t.Fatal(err)
				}
				sent += sum.Sent
			}
			if sent != int64(len(readings)) {
				t.Fatalf("produced %d readings, the files have %d", sent, len(readings))
			}
			checkEventTimes(t, ctx, s, readings)

			slide := tc.slide
			if slide == 0 {
				slide = tc.window
			}
			p := reference.Params{SizeMs: tc.window.Milliseconds(), SlideMs: slide.Milliseconds(), Cumulative: true, MaxDelta: 10000}
			if tc.align == windows.AlignLocal {
				p.Zone = ny
			}
			want := reference.Devices(p, readings)
			got := waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
				if d := reference.DiffDevices(m, want); d != "" {
					return d
				}
				return diffEnds(p, ny, m)
			})
			wantSt := reference.StationsOf(want, readings)
			waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string {
				if d := reference.DiffStations(m, wantSt); d != "" {
					return d
				}
				for k, w := range m {
					if end, ok := p.End(w.Start.UnixMilli()); !ok || end != w.End.UnixMilli() {
						return fmt.Sprintf("%s: END %v, the reference's %v", k, w.End, time.UnixMilli(end).UTC())
					}
				}
				return ""
			})
			long, short := windowLengths(got, tc.window)
			t.Logf("%d device and %d station windows match the reference; %d device windows an hour longer, %d an hour shorter than %v",
				len(want), len(wantSt), long, short, tc.window)
			if tc.align == windows.AlignLocal && (long == 0 || short == 0) {
				t.Errorf("local windows on both transition days, but %d longer and %d shorter than %v", long, short, tc.window)
			}

			snap := metrics.Snapshot()
			if a, l := snap.Outcomes[processors.OutcomeApplied], snap.Outcomes[processors.OutcomeLate]; a != float64(len(readings)) || l != 0 {
				t.Errorf("device stage: %v applied, %v too late; want all %d applied", a, l, len(readings))
			}
		})
	}
}

// diffEnds checks each device window's END against the reference's and
// its DATE and TIME against END in New York time, formatted here.
func diffEnds(p reference.Params, ny *time.Location, m map[string]schemas.DeviceWindow) string {
	for k, w := range m {
		end, ok := p.End(w.Start.UnixMilli())
		if !ok || end != w.End.UnixMilli() {
			return fmt.Sprintf("%s: END %v, the reference's %v", k, w.End, time.UnixMilli(end).UTC())
		}
		local := time.UnixMilli(end).In(ny)
		if w.Date != local.Format("01/02/2006") || w.Time != local.Format("15:04:05") {
			return fmt.Sprintf("%s: DATE %s TIME %s, END in New York is %s", k, w.Date, w.Time, local)
		}
	}
	return ""
}

// windowLengths counts the windows longer and shorter than size.
func windowLengths(m map[string]schemas.DeviceWindow, size time.Duration) (long, short int) {
	for _, w := range m {
		switch d := w.End.Sub(w.Start); {
		case d > size:
			long++
		case d < size:
			short++
		}
	}
	return long, short
}

// checkEventTimes reads the input topic and checks that every reading's
// event time is the instant readMTA gave its row (same device, DATE, TIME
// and counters), and that DATE and TIME are the file's.
func checkEventTimes(t *testing.T, ctx context.Context, s *stack, readings []reference.Reading) {
	t.Helper()
	want := map[string]int64{}
	for _, r := range readings {
		// ID is the row: CA,UNIT,SCP,STATION,LINENAME,DIVISION,DATE,TIME,DESC,ENTRIES,EXITS
		want[r.ID] = r.T
	}
	codec := readingCodec(t, s, processors.DefaultTopics().Input, 0)
	recs := testenv.ReadN(t, ctx, s.brokers, processors.DefaultTopics().Input, len(readings), time.Second)
	for _, rec := range recs {
		r, err := codec.DecodeReading(rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		day, err := time.Parse(schemas.ReadingDateLayout, r.Date)
		if err != nil {
			t.Fatal(err)
		}
		row := fmt.Sprintf("%s,%s,%s,%s,%s,%s,%s,%s,%s,%d,%d", r.CA, r.Unit, r.SCP, r.Station, r.LineName, r.Division,
			day.Format("01/02/2006"), r.Time, r.Desc, r.Entries, r.Exits)
		w, ok := want[row]
		if !ok {
			t.Fatalf("a reading no row of the files has: %s", row)
		}
		if r.EventTime.UnixMilli() != w || r.Timestamp != time.UnixMilli(w).UTC().Format(schemas.TimestampLayout) {
			t.Errorf("%s: EVENT_TIME %v, TIMESTAMP %s; want %v", row, r.EventTime, r.Timestamp, time.UnixMilli(w).UTC())
		}
	}
}
