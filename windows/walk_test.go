package windows

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestWalksMatchOf: a device's walk over its live windows (EachLiveWindow)
// and its next close (NextClose), which skip readings they know have
// nothing for them, give what every reading's windows (Spec.Of) give, for
// random devices, tumbling and hopping windows, aligned to the epoch and
// to local midnight across a DST change.
func TestWalksMatchOf(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	specs := map[string]func() (Spec, error){
		"epoch 15m":          func() (Spec, error) { return NewSpec(15*time.Minute, 0) },
		"epoch 1h/15m":       func() (Spec, error) { return NewSpec(time.Hour, 15*time.Minute) },
		"epoch 4h":           func() (Spec, error) { return NewSpec(4*time.Hour, 0) },
		"local 4h":           func() (Spec, error) { return NewLocalSpec(4*time.Hour, 0, ny) },
		"local 24h/4h":       func() (Spec, error) { return NewLocalSpec(24*time.Hour, 4*time.Hour, ny) },
		"epoch 7m (not 24h)": func() (Spec, error) { return NewSpec(7*time.Minute, 0) },
	}
	base := utc(t, "2024-03-09T00:00Z") // the day before a DST change in New York
	for name, mk := range specs {
		w, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			for trial := range 300 {
				rules := &Rules{Windows: w, Grace: int64(rng.IntN(4)) * 15 * minute, Retention: int64(1+rng.IntN(48)) * 60 * minute,
					Counters: Cumulative, MaxDelta: 10000, Emit: EmitFinal}
				d := NewDevice()
				for i := range 1 + rng.IntN(12) {
					d.Readings = append(d.Readings, Reading{T: base + int64(rng.IntN(3*24*60))*minute, ID: uint64(i + 1)})
				}
				slices.SortFunc(d.Readings, func(a, b Reading) int { return int(a.T - b.T) })
				if rng.IntN(4) > 0 {
					d.HasClosed, d.ClosedThrough = true, base+int64(rng.IntN(4*24*60))*minute
				}

				var want []int64
				expired := d.ExpiredBefore(rules)
				for _, r := range d.Readings {
					w.Of(r.T, func(start int64) {
						if start >= expired && !slices.Contains(want, start) {
							want = append(want, start)
						}
					})
				}
				slices.Sort(want)
				var got []int64
				d.EachLiveWindow(rules, func(start int64) bool { got = append(got, start); return true })
				if !slices.Equal(got, want) {
					t.Fatalf("trial %d: EachLiveWindow %v, want %v (device %+v)", trial, got, want, d)
				}
				wantAt, wantOK := int64(0), false
				for _, start := range want {
					if !d.Closed(rules, start) {
						wantAt, wantOK = w.End(start)+rules.Grace, true
						break
					}
				}
				if at, ok := d.NextClose(rules); at != wantAt || ok != wantOK {
					t.Fatalf("trial %d: NextClose %d %v, want %d %v (device %+v)", trial, at, ok, wantAt, wantOK, d)
				}
			}
		})
	}
}

// BenchmarkDeviceWeek is one device's work per reading as the MTA week
// drives the windowed stage (turnstile dev --window 15m --grace 15m
// --retention 24h): a reading every 4 hours is caught up and applied, the
// device is scheduled for its next close, and the close that follows
// publishes the reading's window and schedules again.
func BenchmarkDeviceWeek(b *testing.B) {
	w, err := NewSpec(15*time.Minute, 0)
	if err != nil {
		b.Fatal(err)
	}
	rules := &Rules{Windows: w, Grace: 15 * minute, Retention: 24 * 60 * minute, Counters: Cumulative, MaxDelta: 10000, Emit: EmitFinal}
	const every = 4 * 60 * minute
	d := NewDevice()
	t0 := int64(1_704_585_600_000) // 2024-01-07T00:00Z
	for i := 0; b.Loop(); i++ {
		t := t0 + int64(i)*every
		d.Outbox = Outbox{}
		d.CatchUp(rules, t-every+30*minute)
		d.Apply(rules, Reading{T: t, Entries: int64(i) * 100, Exits: int64(i) * 70, ID: uint64(i + 1)}, "BMT", Stamp{}, nil)
		d.NextClose(rules)
		d.Close(rules, t+30*minute, Stamp{})
		d.NextClose(rules)
	}
	if len(d.Readings) < 6 {
		b.Fatalf("device holds %d readings, want a day's", len(d.Readings))
	}
}
