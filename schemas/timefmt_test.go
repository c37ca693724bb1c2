package schemas

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestTimeLayoutsAreTimeFormats: the digit-by-digit formatters write what
// time.Format writes with the same layouts, for any instant in any zone
// (DST transitions, offsets that are not whole hours, years at and past
// the four-digit edge).
func TestTimeLayoutsAreTimeFormats(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	zones := []*time.Location{nil, time.UTC, ny, time.FixedZone("+0545", 5*3600+45*60), time.FixedZone("-12", -12*3600),
		time.FixedZone("+14", 14*3600)}
	times := []time.Time{
		time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 3, 10, 6, 59, 59, 999_999_999, time.UTC), // New York springs forward at 07:00 UTC
		time.Date(2024, 11, 3, 5, 30, 0, 0, time.UTC),            // and falls back at 06:00 UTC
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 12, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, ny),
		{},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		times = append(times, time.UnixMilli(r.Int64N(int64(200*365*24*time.Hour/time.Millisecond))-int64(50*365*24*time.Hour/time.Millisecond)))
	}
	for _, tm := range times {
		if got, want := DeviceWindowKey("A002|R051|02-00-00", tm), "A002|R051|02-00-00|"+tm.UTC().Format(WindowKeyTime); got != want {
			t.Fatalf("DeviceWindowKey(%v) = %q, want %q", tm, got, want)
		}
		for _, z := range zones {
			in := tm.In(time.UTC)
			if z != nil {
				in = tm.In(z)
			}
			date, clock := WindowEndFields(tm, z)
			if want := in.Format(WindowDateLayout); date != want {
				t.Fatalf("WindowEndFields(%v, %v) date %q, want %q", tm, z, date, want)
			}
			if want := in.Format(ClockLayout); clock != want {
				t.Fatalf("WindowEndFields(%v, %v) clock %q, want %q", tm, z, clock, want)
			}
		}
	}
}

func BenchmarkWindowRowTimes(b *testing.B) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2024, 1, 6, 12, 15, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		_ = DeviceWindowKey("A002|R051|02-00-00", start)
		_, _ = WindowEndFields(start.Add(15*time.Minute), ny)
	}
}
