package windows

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

const minute = int64(60_000)

func testRules(counters CounterMode) *Rules {
	w, _ := NewSpec(5*time.Minute, 0)
	return &Rules{Windows: w, Grace: 5 * minute, Retention: 60 * minute, Counters: counters, MaxDelta: 10000, Emit: EmitFinal}
}

func hashID(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func rd(tMin float64, entries, exits int64, id string) Reading {
	return Reading{T: int64(tMin * float64(minute)), Entries: entries, Exits: exits, ID: hashID(id), Desc: "REGULAR"}
}

var meta = [3]string{"59 ST", "NQR456W", "BMT"}

// published collects what the relay would publish: window start -> its
// latest revision.
type published map[int64]Row

func (p published) take(t *testing.T, s *Device) {
	t.Helper()
	for _, w := range s.Outbox.Windows {
		if old, ok := p[w.Start]; ok && w.Rev != old.Rev+1 {
			t.Fatalf("window %d published rev %d after rev %d", w.Start, w.Rev, old.Rev)
		}
		p[w.Start] = w
	}
	s.Outbox = Outbox{}
}

func row(rev int32, start, entries, exits int64) Row {
	return Row{Start: start, End: start + 5*minute, Rev: rev, Entries: entries, Exits: exits, Desc: "REGULAR"}
}

func TestDeviceCumulative(t *testing.T) {
	sem := testRules(Cumulative)
	s := NewDevice()
	pub := published{}
	steps := []struct {
		r      Reading
		closeT float64 // close through this minute after the reading (0 = none)
	}{
		{rd(1, 100, 50, "a"), 0},  // first reading contributes 0: window [0,5)
		{rd(6, 130, 55, "b"), 0},  // +30/+5 in [5,10)
		{rd(7, 140, 60, "c"), 10}, // +10/+5 in [5,10); close through 10: [0,5) closes (end 5 + grace 5)
		{rd(12, 20, 61, "d"), 20}, // counter reset: entries dropped, exits +1; [5,10) and [10,15) close
	}
	for _, st := range steps {
		if !s.Apply(sem, st.r, "BMT", Stamp{}, nil) {
			t.Fatalf("apply %v: a duplicate", st.r)
		}
		if st.closeT > 0 {
			s.Close(sem, int64(st.closeT*float64(minute)), Stamp{})
		}
		pub.take(t, s)
	}
	want := published{0: row(1, 0, 0, 0), 5 * minute: row(1, 5*minute, 40, 10), 10 * minute: row(1, 10*minute, 0, 1)}
	if !reflect.DeepEqual(pub, want) {
		t.Errorf("published\n got %+v\nwant %+v", pub, want)
	}
	if s.Dropped != 1 {
		t.Errorf("dropped = %d, want 1", s.Dropped)
	}

	// A late reading between b (6m, 130) and c (7m, 140) in the closed
	// window [5,10): it splits one difference into two; the totals of that
	// window do not change, so nothing is republished.
	s.Apply(sem, rd(6.5, 135, 57, "late1"), "BMT", Stamp{}, nil)
	if len(s.Outbox.Windows) != 0 {
		t.Fatalf("unchanged window republished: %v", s.Outbox.Windows)
	}
	// A late reading at 4m (window [0,5)) between a (1m) and b (6m): both
	// [0,5) and [5,10) change and are corrected with revision 2.
	s.Apply(sem, rd(4, 110, 52, "late2"), "BMT", Stamp{}, nil)
	pub.take(t, s)
	if got, want := pub[0], row(2, 0, 10, 2); got != want {
		t.Errorf("[0,5) after late reading: %+v, want %+v", got, want)
	}
	if got, want := pub[5*minute], row(2, 5*minute, 30, 8); got != want {
		t.Errorf("[5,10) after late reading: %+v, want %+v", got, want)
	}
	// Its duplicate changes nothing.
	if s.Apply(sem, rd(4, 110, 52, "late2"), "BMT", Stamp{}, nil) || !s.Outbox.Empty() {
		t.Fatalf("duplicate applied: Outbox %v", s.Outbox)
	}
}

func TestDeviceIncrementAndUpdates(t *testing.T) {
	sem := testRules(Increment)
	sem.Emit = EmitUpdates
	s := NewDevice()
	pub := published{}
	s.Apply(sem, rd(1, 5, 6, "a"), "BMT", Stamp{}, nil)
	pub.take(t, s)
	s.Apply(sem, rd(2, 7, 8, "b"), "BMT", Stamp{}, nil)
	pub.take(t, s)
	if got, want := pub[0], row(2, 0, 12, 14); got != want {
		t.Fatalf("updates mode: %+v, want %+v", got, want)
	}
	s.Close(sem, 10*minute, Stamp{})
	if !s.Outbox.Empty() {
		t.Fatalf("closing an already published unchanged window republished it: %v", s.Outbox)
	}
}

func TestDeviceRetentionPrunes(t *testing.T) {
	sem := testRules(Cumulative)
	s := NewDevice()
	for i := 0; i < 100; i++ {
		s.Outbox = Outbox{} // every write starts with an empty Outbox
		s.Apply(sem, rd(float64(i*4), int64(i*10), int64(i), fmt.Sprint(i)), "BMT", Stamp{}, nil)
		s.Close(sem, int64(i*4)*minute, Stamp{})
	}
	// Retention 60m of 4-minute readings: about 15 readings plus a base.
	if n := len(s.Readings); n > 20 {
		t.Fatalf("%d readings retained", n)
	}
	if n := len(s.Emitted); n > 20 {
		t.Fatalf("%d windows retained", n)
	}
}

// TestDeviceConvergesToReference feeds random streams (out of order,
// duplicates, counter glitches, late readings) through the state machine,
// closing as stream time advances, and checks the latest published
// revision of every window against the reference computed over the
// accepted readings.
func TestDeviceConvergesToReference(t *testing.T) {
	for _, counters := range []CounterMode{Cumulative, Increment} {
		for _, slide := range []time.Duration{0, 2 * time.Minute} {
			for seed := uint64(1); seed <= 30; seed++ {
				name := fmt.Sprintf("%s/slide=%v/seed=%d", counters, slide, seed)
				t.Run(name, func(t *testing.T) { convergeOnce(t, counters, slide, seed) })
			}
		}
	}
}

func convergeOnce(t *testing.T, counters CounterMode, slide time.Duration, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	sem := testRules(counters)
	sem.Windows, _ = NewSpec(5*time.Minute, slide)
	sem.Retention = 30 * minute
	devices := []string{"A|R1|00", "A|R1|01", "B|R2|00"}
	type in struct {
		dev string
		r   Reading
		id  string
	}
	var stream []in
	for _, dev := range devices {
		e, x := int64(1000), int64(500)
		for i := 0; i < 40; i++ {
			e += int64(rng.IntN(30))
			x += int64(rng.IntN(10))
			if rng.IntN(20) == 0 {
				e = int64(rng.IntN(100)) // reset
			}
			id := fmt.Sprintf("%s-%d", dev, i)
			tm := int64(i)*2*minute + int64(rng.IntN(int(minute)))
			stream = append(stream, in{dev, Reading{T: tm, Entries: e, Exits: x, ID: hashID(id), Desc: "REGULAR"}, id})
		}
	}
	// Mostly in order with local shuffles, a few very late, some duplicates.
	for i := range stream {
		j := i + rng.IntN(6)
		if j < len(stream) {
			stream[i], stream[j] = stream[j], stream[i]
		}
	}
	for i := 0; i < 8; i++ {
		a, b := rng.IntN(len(stream)), rng.IntN(len(stream))
		stream[a], stream[b] = stream[b], stream[a]
		stream = append(stream, stream[rng.IntN(len(stream))])
	}

	states := map[string]*Device{}
	pubs := map[string]published{}
	var streamTime int64 = -1 << 62
	var accepted []reference.Reading
	for _, x := range stream {
		s := states[x.dev]
		if s == nil {
			s, states[x.dev], pubs[x.dev] = NewDevice(), NewDevice(), published{}
			states[x.dev] = s
		}
		if x.r.T < streamTime-sem.Retention {
			continue // too late: goes to the late topic
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
		ds.Close(sem, streamTime+sem.Windows.Size+sem.Grace+sem.Retention, Stamp{})
		pubs[dev].take(t, ds)
	}
	want := reference.Devices(reference.Params{SizeMs: sem.Windows.Size, SlideMs: sem.Windows.Slide,
		Cumulative: counters == Cumulative, MaxDelta: sem.MaxDelta}, accepted)
	got := map[reference.DeviceKey]reference.Row{}
	for dev, p := range pubs {
		for start, w := range p {
			got[reference.DeviceKey{Device: dev, Start: start}] = reference.Row{Entries: w.Entries, Exits: w.Exits, Desc: w.Desc}
		}
	}
	if !reflect.DeepEqual(got, want) {
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%v: got %+v want %+v", k, got[k], w)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%v: published but not in reference", k)
			}
		}
	}
}
