package windows

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// utc parses "2006-01-02T15:04Z" to Unix ms.
func utc(t testing.TB, s string) int64 {
	t.Helper()
	v, err := time.Parse("2006-01-02T15:04Z", s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UnixMilli()
}

func fmtUTC(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04Z") }

// New York: on 2024-03-10 the clocks go from 02:00 EST to 03:00 EDT at
// 07:00Z (02:00-03:00 local does not exist); on 2024-11-03 from 02:00 EDT
// back to 01:00 EST at 06:00Z (01:00-02:00 local happens twice, 05:00Z to
// 07:00Z).
func TestLocalWindowsAcrossDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	type win struct{ start, end string } // UTC
	tests := []struct {
		name        string
		size, slide time.Duration
		at          string // UTC
		want        []win
	}{
		// an ordinary winter day: 4h windows at 00, 04, 08 ... EST
		{"4h, winter", 4 * time.Hour, 0, "2024-01-06T10:00Z", []win{{"2024-01-06T09:00Z", "2024-01-06T13:00Z"}}},
		{"4h, summer", 4 * time.Hour, 0, "2024-07-01T10:00Z", []win{{"2024-07-01T08:00Z", "2024-07-01T12:00Z"}}},

		// spring forward
		{"1h, the hour before the gap ends at the transition", time.Hour, 0, "2024-03-10T06:30Z", []win{{"2024-03-10T06:00Z", "2024-03-10T07:00Z"}}},
		{"1h, 02:00 is skipped: 03:00 starts at the transition", time.Hour, 0, "2024-03-10T07:00Z", []win{{"2024-03-10T07:00Z", "2024-03-10T08:00Z"}}},
		{"4h, 00:00-04:00 is 3 hours", 4 * time.Hour, 0, "2024-03-10T07:30Z", []win{{"2024-03-10T05:00Z", "2024-03-10T08:00Z"}}},
		{"4h, 04:00 EDT", 4 * time.Hour, 0, "2024-03-10T08:00Z", []win{{"2024-03-10T08:00Z", "2024-03-10T12:00Z"}}},
		{"24h, the local day is 23 hours", 24 * time.Hour, 0, "2024-03-10T12:00Z", []win{{"2024-03-10T05:00Z", "2024-03-11T04:00Z"}}},
		{"24h, the day before is 24 hours", 24 * time.Hour, 0, "2024-03-10T04:59Z", []win{{"2024-03-09T05:00Z", "2024-03-10T05:00Z"}}},
		{"30m, the empty windows in the gap are skipped", 30 * time.Minute, 0, "2024-03-10T07:00Z", []win{{"2024-03-10T07:00Z", "2024-03-10T07:30Z"}}},
		{"30m, 01:30-02:00 EST", 30 * time.Minute, 0, "2024-03-10T06:59Z", []win{{"2024-03-10T06:30Z", "2024-03-10T07:00Z"}}},
		{"2h tumbling, 02:00-04:00 starts at the transition", 2 * time.Hour, 0, "2024-03-10T07:00Z", []win{{"2024-03-10T07:00Z", "2024-03-10T08:00Z"}}},
		{"sliding 2h/1h before the gap", 2 * time.Hour, time.Hour, "2024-03-10T06:30Z",
			[]win{{"2024-03-10T05:00Z", "2024-03-10T07:00Z"}, {"2024-03-10T06:00Z", "2024-03-10T07:00Z"}}},
		{"sliding 2h/1h: 02:00-04:00 is part of 03:00-05:00", 2 * time.Hour, time.Hour, "2024-03-10T07:30Z",
			[]win{{"2024-03-10T07:00Z", "2024-03-10T09:00Z"}}},
		{"sliding 24h/4h across the gap", 24 * time.Hour, 4 * time.Hour, "2024-03-10T07:30Z", []win{
			{"2024-03-09T09:00Z", "2024-03-10T08:00Z"}, {"2024-03-09T13:00Z", "2024-03-10T12:00Z"},
			{"2024-03-09T17:00Z", "2024-03-10T16:00Z"}, {"2024-03-09T21:00Z", "2024-03-10T20:00Z"},
			{"2024-03-10T01:00Z", "2024-03-11T00:00Z"}, {"2024-03-10T05:00Z", "2024-03-11T04:00Z"}}},

		// fall back
		{"1h, first pass of 01:xx", time.Hour, 0, "2024-11-03T05:30Z", []win{{"2024-11-03T05:00Z", "2024-11-03T07:00Z"}}},
		{"1h, second pass of 01:xx is the same window", time.Hour, 0, "2024-11-03T06:30Z", []win{{"2024-11-03T05:00Z", "2024-11-03T07:00Z"}}},
		{"1h, 00:59 EDT", time.Hour, 0, "2024-11-03T04:59Z", []win{{"2024-11-03T04:00Z", "2024-11-03T05:00Z"}}},
		{"1h, 02:00 EST", time.Hour, 0, "2024-11-03T07:00Z", []win{{"2024-11-03T07:00Z", "2024-11-03T08:00Z"}}},
		{"4h, 00:00-04:00 is 5 hours", 4 * time.Hour, 0, "2024-11-03T08:59Z", []win{{"2024-11-03T04:00Z", "2024-11-03T09:00Z"}}},
		{"24h, the local day is 25 hours", 24 * time.Hour, 0, "2024-11-04T04:30Z", []win{{"2024-11-03T04:00Z", "2024-11-04T05:00Z"}}},
		{"30m, second pass of 01:15 is in 01:30-02:00", 30 * time.Minute, 0, "2024-11-03T06:15Z", []win{{"2024-11-03T05:30Z", "2024-11-03T07:00Z"}}},
		{"sliding 2h/1h, second pass", 2 * time.Hour, time.Hour, "2024-11-03T06:30Z",
			[]win{{"2024-11-03T04:00Z", "2024-11-03T07:00Z"}, {"2024-11-03T05:00Z", "2024-11-03T08:00Z"}}},
		{"sliding 2h/1h, 02:30 EST", 2 * time.Hour, time.Hour, "2024-11-03T07:30Z",
			[]win{{"2024-11-03T05:00Z", "2024-11-03T08:00Z"}, {"2024-11-03T07:00Z", "2024-11-03T09:00Z"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewLocalSpec(tt.size, tt.slide, ny)
			if err != nil {
				t.Fatal(err)
			}
			at := utc(t, tt.at)
			var got []win
			w.Of(at, func(s int64) { got = append(got, win{fmtUTC(s), fmtUTC(w.End(s))}) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("windows of %s:\n got %v\nwant %v", tt.at, got, tt.want)
			}
			if e := fmtUTC(w.Earliest(at)); e != tt.want[0].start {
				t.Fatalf("Earliest(%s) = %s, want %s", tt.at, e, tt.want[0].start)
			}
		})
	}
}

func TestLocalSpecRejects(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	for _, c := range []struct{ size, slide time.Duration }{
		{7 * time.Hour, 0}, {10 * time.Hour, 5 * time.Hour}, {48 * time.Hour, 0}, {time.Hour, 7 * time.Minute},
	} {
		if _, err := NewLocalSpec(c.size, c.slide, ny); err == nil {
			t.Errorf("NewLocalSpec(%v, %v) accepted a slide that does not divide 24h", c.size, c.slide)
		}
	}
	if _, err := NewLocalSpec(time.Hour, 0, nil); err == nil {
		t.Error("NewLocalSpec without a zone accepted")
	}
	if w, err := NewLocalSpec(48*time.Hour, 24*time.Hour, ny); err != nil || w.Alignment() != AlignLocal || w.Zone() != ny {
		t.Errorf("two-day windows sliding by a day: %v %v", w, err)
	}
	if w, _ := NewSpec(time.Hour, 0); w.Alignment() != AlignEpoch || w.Zone() != nil {
		t.Errorf("NewSpec is not epoch-aligned: %v", w)
	}
}

// In UTC, and in a zone without daylight saving time whose offset is a
// multiple of the slide, local windows are the epoch's.
func TestLocalWindowsWithoutDSTAreEpochAligned(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, zone := range []string{"UTC", "Asia/Tokyo"} {
		loc := mustZone(t, zone)
		for _, sz := range [][2]time.Duration{{time.Hour, 0}, {4 * time.Hour, time.Hour}, {24 * time.Hour, 0}} {
			if zone == "Asia/Tokyo" && sz[0] == 24*time.Hour {
				continue // Tokyo's days start at 15:00 UTC
			}
			local, _ := NewLocalSpec(sz[0], sz[1], loc)
			epoch, _ := NewSpec(sz[0], sz[1])
			for range 1000 {
				at := utc(t, "2024-01-01T00:00Z") + rng.Int64N(400*24*3600_000)
				var a, b []int64
				local.Of(at, func(s int64) { a = append(a, s) })
				epoch.Of(at, func(s int64) { b = append(b, s) })
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("%s %v: local %v, epoch %v", zone, sz, a, b)
				}
			}
		}
	}
}

// wallTable is an independent model of a zone's clock over a range: the
// wall clock of every minute, and the instant a wall-clock boundary maps to
// by the definition (the first minute whose clock reads it or later).
type wallTable struct {
	from   int64   // instant of the first minute
	prefix []int64 // running maximum of the wall clock (wall scale)
}

func newWallTable(loc *time.Location, from, to time.Time) *wallTable {
	wt := &wallTable{from: from.UnixMilli()}
	best := int64(-1 << 62)
	for u := from; u.Before(to); u = u.Add(time.Minute) {
		_, off := u.In(loc).Zone()
		best = max(best, u.UnixMilli()+int64(off)*1000)
		wt.prefix = append(wt.prefix, best)
	}
	return wt
}

// instant is the first minute at which the clock reads c or later: the
// first reading of c, or the transition that skips it.
func (wt *wallTable) instant(c int64) (int64, bool) {
	i := sort.Search(len(wt.prefix), func(i int) bool { return wt.prefix[i] >= c })
	if i == 0 || i == len(wt.prefix) {
		return 0, false // outside the table
	}
	return wt.from + int64(i)*minute, true
}

// TestLocalWindowsProperty checks, in zones with every kind of
// transition, that every instant belongs to exactly the windows the
// definition gives (computed from the model above, not from Spec's code),
// and that the close steps number those windows' closes in order.
func TestLocalWindowsProperty(t *testing.T) {
	cases := []struct {
		zone string
		day  string // a transition day
	}{
		{"America/New_York", "2024-03-10"}, // 02:00 -> 03:00
		{"America/New_York", "2024-11-03"}, // 02:00 -> 01:00
		{"Europe/London", "2024-03-31"},
		{"Europe/London", "2024-10-27"},
		{"Australia/Lord_Howe", "2024-04-07"}, // a half-hour shift: 02:00 -> 01:30
		{"Australia/Lord_Howe", "2024-10-06"}, // 02:00 -> 02:30
		{"America/Sao_Paulo", "2018-11-04"},   // midnight skipped: 00:00 -> 01:00
		{"America/Havana", "2024-11-03"},      // 01:00 -> 00:00: midnight repeated
		{"Pacific/Apia", "2011-12-30"},        // a whole day skipped
		{"Asia/Kolkata", "2024-01-01"},        // +05:30, no transition
	}
	specs := [][2]time.Duration{
		{time.Hour, 0}, {4 * time.Hour, 0}, {24 * time.Hour, 0}, {30 * time.Minute, 0}, {15 * time.Minute, 0},
		{2 * time.Hour, time.Hour}, {24 * time.Hour, 4 * time.Hour}, {90 * time.Minute, 30 * time.Minute}, {48 * time.Hour, 24 * time.Hour},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		loc := mustZone(t, c.zone)
		day, err := time.ParseInLocation("2006-01-02", c.day, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		from, to := day.Add(-8*24*time.Hour), day.Add(8*24*time.Hour)
		wt := newWallTable(loc, from, to)
		for _, sz := range specs {
			t.Run(fmt.Sprintf("%s %s %v/%v", c.zone, c.day, sz[0], sz[1]), func(t *testing.T) {
				w, err := NewLocalSpec(sz[0], sz[1], loc)
				if err != nil {
					t.Fatal(err)
				}
				rules := &Rules{Windows: w, Grace: 10 * minute}
				// The windows by the definition, numbered like Spec's.
				type window struct {
					n          int64
					start, end int64
				}
				var all []window
				lo, hi := (from.UnixMilli()+3*24*3600_000)/w.Slide, (to.UnixMilli()-3*24*3600_000)/w.Slide
				for n := lo; n <= hi; n++ {
					s, ok1 := wt.instant(n * w.Slide)
					next, ok2 := wt.instant((n + 1) * w.Slide)
					e, ok3 := wt.instant(n*w.Slide + w.Size)
					if !ok1 || !ok2 || !ok3 {
						t.Fatalf("window %d outside the table", n)
					}
					if got := rules.CloseTime(n); got != e+rules.Grace {
						t.Fatalf("CloseTime(%d) = %s, want the end %s + grace", n, fmtUTC(got), fmtUTC(e))
					}
					if s < next { // else it starts with the next one: not a window
						all = append(all, window{n, s, e})
					}
				}
				// Instants across the middle of the range (near the transition
				// Spec walks the zone's periods; days away it takes its fast
				// path), sorted, plus every boundary and the millisecond
				// before it.
				var ats []int64
				mid0, mid1 := day.Add(-72*time.Hour).UnixMilli(), day.Add(72*time.Hour).UnixMilli()
				for range 2500 {
					ats = append(ats, mid0+rng.Int64N(mid1-mid0))
				}
				for _, win := range all {
					for _, b := range []int64{win.start, win.end} {
						if b > mid0 && b < mid1 {
							ats = append(ats, b, b-1)
						}
					}
				}
				sort.Slice(ats, func(i, j int) bool { return ats[i] < ats[j] })
				prevStep := int64(-1 << 62)
				for _, at := range ats {
					var want []int64
					for _, win := range all {
						if win.start <= at && at < win.end {
							want = append(want, win.start)
						}
					}
					var got []int64
					w.Of(at, func(s int64) { got = append(got, s) })
					if len(want) == 0 || !reflect.DeepEqual(got, want) {
						t.Fatalf("at %s: Of %v, want %v", fmtUTC(at), fmtAll(got), fmtAll(want))
					}
					if e := w.Earliest(at); e != want[0] {
						t.Fatalf("at %s: Earliest %s, want %s", fmtUTC(at), fmtUTC(e), fmtUTC(want[0]))
					}
					for _, win := range all {
						if win.start <= at && at < win.end && w.End(win.start) != win.end {
							t.Fatalf("End(%s) = %s, want %s", fmtUTC(win.start), fmtUTC(w.End(win.start)), fmtUTC(win.end))
						}
					}
					// Close steps: monotonic, and the latest close at or before at.
					step := rules.CloseStep(at)
					if step < prevStep {
						t.Fatalf("at %s: close step %d after %d", fmtUTC(at), step, prevStep)
					}
					prevStep = step
					if rules.CloseTime(step) > at || rules.CloseTime(step+1) <= at {
						t.Fatalf("at %s: step %d closes at %s, the next at %s", fmtUTC(at), step, fmtUTC(rules.CloseTime(step)), fmtUTC(rules.CloseTime(step+1)))
					}
					// Idle target: the close of the last window holding at.
					last := want[len(want)-1]
					target := rules.IdleTarget(at, at+1000*24*3600_000)
					if target != w.End(last)+rules.Grace {
						t.Fatalf("at %s: idle target %s, want %s", fmtUTC(at), fmtUTC(target), fmtUTC(w.End(last)+rules.Grace))
					}
					if wall := at + 5*minute; rules.IdleTarget(at, wall) > wall {
						t.Fatalf("at %s: idle target past the wall clock", fmtUTC(at))
					}
				}
			})
		}
	}
}

func fmtAll(ms []int64) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = fmtUTC(m)
	}
	return out
}

func BenchmarkOf(b *testing.B) {
	ny := mustZone(b, "America/New_York")
	for _, tc := range []struct {
		name string
		at   string
		w    func() (Spec, error)
	}{
		{"epoch 4h", "2024-01-10T07:30Z", func() (Spec, error) { return NewSpec(4*time.Hour, 0) }},
		{"local 4h", "2024-01-10T07:30Z", func() (Spec, error) { return NewLocalSpec(4*time.Hour, 0, ny) }},
		{"local 24h/4h", "2024-01-10T07:30Z", func() (Spec, error) { return NewLocalSpec(24*time.Hour, 4*time.Hour, ny) }},
		{"local 4h, transition day", "2024-03-10T07:30Z", func() (Spec, error) { return NewLocalSpec(4*time.Hour, 0, ny) }},
		{"local 24h/4h, transition day", "2024-03-10T07:30Z", func() (Spec, error) { return NewLocalSpec(24*time.Hour, 4*time.Hour, ny) }},
	} {
		at := utc(b, tc.at)
		w, err := tc.w()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			n := 0
			for i := 0; b.Loop(); i++ {
				w.Of(at+int64(i%1000)*minute, func(int64) { n++ })
			}
		})
	}
}

// TestLocalDevicesMatchReference runs devices through both New York
// transitions with local windows (readings every 20-50 minutes, some in
// the repeated hour, locally shuffled, some late, duplicated) and compares
// every published window, start and end, with testsupport/reference, which
// computes local windows on its own (walking calendar days).
func TestLocalDevicesMatchReference(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	for _, day := range []string{"2024-03-10T00:00Z", "2024-11-03T00:00Z"} {
		for _, sz := range [][2]time.Duration{{time.Hour, 0}, {4 * time.Hour, 0}, {24 * time.Hour, 0}, {4 * time.Hour, time.Hour}, {24 * time.Hour, 4 * time.Hour}} {
			t.Run(fmt.Sprintf("%s %v/%v", day[:10], sz[0], sz[1]), func(t *testing.T) {
				w, err := NewLocalSpec(sz[0], sz[1], ny)
				if err != nil {
					t.Fatal(err)
				}
				sem := &Rules{Windows: w, Grace: 30 * minute, Retention: 3 * 24 * 60 * minute, Counters: Cumulative, MaxDelta: 10000, Emit: EmitFinal}
				rng := rand.New(rand.NewPCG(uint64(sz[0]+sz[1]), 11))
				from := utc(t, day) - 36*60*minute
				type in struct {
					dev string
					r   Reading
					id  string
				}
				var stream []in
				for _, dev := range []string{"A|R1|00", "A|R1|01", "B|R2|00"} {
					e, x := int64(1000), int64(500)
					for i, tm := 0, from+rng.Int64N(30*minute); tm < from+72*60*minute; i, tm = i+1, tm+20*minute+rng.Int64N(30*minute) {
						e += int64(rng.IntN(30))
						x += int64(rng.IntN(10))
						id := fmt.Sprintf("%s-%d", dev, i)
						stream = append(stream, in{dev, Reading{T: tm, Entries: e, Exits: x, ID: hashID(id), Desc: "REGULAR"}, id})
					}
				}
				sort.SliceStable(stream, func(i, j int) bool { return stream[i].r.T < stream[j].r.T })
				for i := range stream {
					if j := i + rng.IntN(8); j < len(stream) {
						stream[i], stream[j] = stream[j], stream[i]
					}
				}
				for range 6 {
					a, b := rng.IntN(len(stream)), rng.IntN(len(stream))
					stream[a], stream[b] = stream[b], stream[a]
					stream = append(stream, stream[rng.IntN(len(stream))])
				}
				states := map[string]*Device{}
				pubs := map[string]published{}
				streamTime := int64(-1 << 62)
				var accepted []reference.Reading
				for _, x := range stream {
					s := states[x.dev]
					if s == nil {
						s = NewDevice()
						states[x.dev], pubs[x.dev] = s, published{}
					}
					if s.Expired(sem, x.r.T) {
						continue // too late
					}
					if s.Apply(sem, x.r, "BMT", Stamp{}, nil) {
						accepted = append(accepted, reference.Reading{Device: x.dev, T: x.r.T, Entries: x.r.Entries, Exits: x.r.Exits, ID: x.id, Desc: "REGULAR"})
					}
					pubs[x.dev].take(t, s)
					streamTime = max(streamTime, x.r.T)
					for dev, ds := range states {
						if at, ok := ds.NextClose(sem); ok && at <= streamTime {
							ds.Close(sem, streamTime, Stamp{})
							pubs[dev].take(t, ds)
						}
					}
				}
				for dev, ds := range states {
					ds.Close(sem, streamTime+sem.Grace+2*24*60*minute, Stamp{})
					pubs[dev].take(t, ds)
				}
				p := reference.Params{SizeMs: w.Size, SlideMs: w.Slide, Cumulative: true, MaxDelta: sem.MaxDelta, Zone: ny}
				want := reference.Devices(p, accepted)
				n := 0
				for dev, pub := range pubs {
					for start, row := range pub {
						n++
						k := reference.DeviceKey{Device: dev, Start: start}
						ref, ok := want[k]
						end, _ := p.End(start)
						if !ok || ref != (reference.Row{Entries: row.Entries, Exits: row.Exits, Desc: row.Desc}) || row.End != end {
							t.Errorf("%s %s-%s: %d/%d %s; reference %s %v %+v", dev, fmtUTC(start), fmtUTC(row.End), row.Entries, row.Exits, row.Desc, fmtUTC(end), ok, ref)
						}
					}
				}
				if n != len(want) {
					t.Errorf("%d windows published, reference %d", n, len(want))
				}
			})
		}
	}
}
