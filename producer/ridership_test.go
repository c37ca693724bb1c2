package producer

import (
	"io"
	"testing"
	"time"
)

// TestRidershipShape checks the shipped calibration the way a user looks
// at the demo: station windows of 5 minutes from the synthetic stream at
// the demo's settings (the first 100 booths, a reading a minute) over a
// weekday in New York. The busiest station's morning rush is far above its
// night, its night is not empty, its windows count hundreds, and entries
// and exits differ (one chart line does not hide the other).
func TestRidershipShape(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	r, err := LoadRidership()
	if err != nil {
		t.Fatal(err)
	}
	if r.Booths() < 700 {
		t.Fatalf("%d booths calibrated", r.Booths())
	}
	booths, _ := Booths()
	calibrated := 0
	for _, b := range booths {
		if r.Has(b.Unit, b.CA) {
			calibrated++
		}
	}
	t.Logf("%d of the reference's %d booths have their own calibration", calibrated, len(booths))

	// A Wednesday, from midnight New York time.
	day := time.Date(2026, 12, 2, 0, 0, 0, 0, ny)
	s, err := newSynthetic(SyntheticConfig{Start: day.UTC(), Interval: time.Minute, MaxBooths: 100, Duration: 24 * time.Hour,
		Counters: CountersCumulative}, 1)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		station string
		window  time.Time
	}
	type counts struct{ in, out int64 }
	windows := map[key]*counts{}
	last := map[string][2]int64{}
	for {
		it, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rd := it.reading
		dk := rd.DeviceKey()
		if prev, ok := last[dk]; ok {
			k := key{rd.Station + "|" + rd.LineName, it.event.Add(-time.Nanosecond).Truncate(5 * time.Minute)}
			if windows[k] == nil {
				windows[k] = &counts{}
			}
			windows[k].in += rd.Entries - prev[0]
			windows[k].out += rd.Exits - prev[1]
		}
		last[dk] = [2]int64{rd.Entries, rd.Exits}
	}
	// The busiest station of the day.
	daily := map[string]int64{}
	for k, c := range windows {
		daily[k.station] += c.in
	}
	busiest := ""
	for st, n := range daily {
		if busiest == "" || n > daily[busiest] {
			busiest = st
		}
	}
	hourMean := func(h int) (in, out float64) {
		var n int
		for k, c := range windows {
			if k.station == busiest && k.window.In(ny).Hour() == h {
				in += float64(c.in)
				out += float64(c.out)
				n++
			}
		}
		return in / float64(n), out / float64(n)
	}
	rushIn, rushOut := hourMean(8)
	nightIn, nightOut := hourMean(3)
	eveIn, eveOut := hourMean(17)
	t.Logf("%s, %d entries in the day; per 5 minutes: 03h %.0f/%.0f, 08h %.0f/%.0f, 17h %.0f/%.0f (entries/exits)",
		busiest, daily[busiest], nightIn, nightOut, rushIn, rushOut, eveIn, eveOut)
	if rushIn < 100 || rushIn < 5*nightIn || eveOut < 5*nightOut {
		t.Errorf("no rush hour: %.0f entries at 08h vs %.0f at 03h, %.0f exits at 17h vs %.0f at 03h", rushIn, nightIn, eveOut, nightOut)
	}
	if nightIn+nightOut < 1 {
		t.Errorf("the busiest station's night is empty")
	}
	var withData, differ int
	for _, c := range windows {
		if c.in+c.out > 0 {
			withData++
			if c.in != c.out {
				differ++
			}
		}
	}
	if float64(differ) < 0.9*float64(withData) {
		t.Errorf("entries equal exits in %d of %d station windows", withData-differ, withData)
	}
	t.Logf("%d station windows with data, entries != exits in %d", withData, differ)
}

// TestRidershipNoGlitches: at the MTA's 4-hour interval, across every
// booth of the reference over a busy weekday, no turnstile counts more
// than the pipeline's default glitch threshold (10,000: MaxDelta) between
// two readings: busy booths get more turnstiles.
func TestRidershipNoGlitches(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSynthetic(SyntheticConfig{Start: time.Date(2026, 12, 2, 0, 0, 0, 0, ny).UTC(), Interval: 4 * time.Hour,
		Duration: 48 * time.Hour, Counters: CountersCumulative}, 1)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string][2]int64{}
	var most int64
	for {
		it, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		k := it.reading.DeviceKey()
		if prev, ok := last[k]; ok {
			most = max(most, it.reading.Entries-prev[0], it.reading.Exits-prev[1])
		}
		last[k] = [2]int64{it.reading.Entries, it.reading.Exits}
	}
	if most > 10000 {
		t.Errorf("a turnstile counted %d in 4 hours", most)
	}
	t.Logf("%d turnstiles; the most one counted in 4 hours: %d", len(last), most)
}
