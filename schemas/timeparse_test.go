package schemas

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The references: what validation did before the fast paths.

func refReadingDate(s string) bool {
	_, err := time.Parse(ReadingDateLayout, s)
	return err == nil
}

func refClock(s string) (time.Duration, bool) {
	t, err := time.Parse(ClockLayout, s)
	if err != nil || len(s) != len(ClockLayout) {
		return 0, false
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second, true
}

func refTimestamp(s string) (time.Time, bool) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// checkTimes fails t when a parser that validation uses disagrees with its
// time.Parse reference on s.
func checkTimes(t *testing.T, s string) {
	t.Helper()
	if got, want := validReadingDate(s), refReadingDate(s); got != want {
		t.Errorf("DATE %q: valid %v, time.Parse %v", s, got, want)
	}
	d, err := ParseClock(s)
	if wd, wok := refClock(s); (err == nil) != wok || d != wd {
		t.Errorf("TIME %q: %v, %v; time.Parse %v, %v", s, d, err, wd, wok)
	}
	ts, err := ParseTimestamp(s)
	if wt, wok := refTimestamp(s); (err == nil) != wok || !ts.Equal(wt) || (wok && ts.Location() != time.UTC) {
		t.Errorf("TIMESTAMP %q: %v, %v; time.Parse %v, %v", s, ts, err, wt, wok)
	}
}

func TestFastTimesAreTimeParse(t *testing.T) {
	edges := []string{
		"", "x", "01-02-06", "12-31-99", "01-01-69", "12-31-68", "02-29-00", "02-29-01", "02-29-68",
		"02-29-69", "02-29-72", "02-28-01", "00-01-23", "13-01-23", "01-00-23", "01-32-23", "04-31-23",
		"1-02-06", "01-2-06", "01-02-2006", "01/02/06", "01-02-0a", " 1-02-06",
		"00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:60", "9:00:00", "09:00:0", "09:00:00.5",
		"09-00-00", "+9:00:00", "09:+0:00",
		"2024-01-06 03:00:00", "2024-02-29 00:00:00", "2023-02-29 00:00:00", "1900-02-29 12:00:00",
		"2000-02-29 12:00:00", "0000-01-01 00:00:00", "9999-12-31 23:59:59", "2024-13-01 00:00:00",
		"2024-00-10 00:00:00", "2024-01-06 24:00:00", "2024-01-06T03:00:00", "2024-01-06 03:00:00Z",
		"2024-01-06 03:00:00.250", "2024-01-06 03:00:00-05:00", "2024-01-06 03:00:00 +0100",
		"2024-01-06 3:00:00", "2024-01-06  03:00:00", "+024-01-06 03:00:00", "2024-01-06 03:00:0+",
	}
	for _, s := range edges {
		checkTimes(t, s)
	}

	// Valid values of each layout, then each mutated once: a character
	// replaced, dropped or added.
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789-: T/.Z+x"
	mutate := func(s string) string {
		i := rng.IntN(len(s) + 1)
		c := string(alphabet[rng.IntN(len(alphabet))])
		switch rng.IntN(3) {
		case 0:
			if i < len(s) {
				return s[:i] + c + s[i+1:]
			}
			return s + c
		case 1:
			if i < len(s) {
				return s[:i] + s[i+1:]
			}
			return s[:0]
		default:
			return s[:i] + c + s[i:]
		}
	}
	lo := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2080, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 20_000 {
		at := time.Unix(lo+rng.Int64N(hi-lo), 0).UTC()
		for _, s := range []string{at.Format(ReadingDateLayout), at.Format(ClockLayout), at.Format(TimestampLayout)} {
			checkTimes(t, s)
			checkTimes(t, mutate(s))
			checkTimes(t, mutate(mutate(s)))
		}
	}
}

func BenchmarkValidateTime(b *testing.B) {
	r := sample()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ValidateTime(); err != nil {
			b.Fatal(err)
		}
	}
}
