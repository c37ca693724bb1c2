package windows

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// partition is what the runtime keeps of one partition of the windowed
// stage, reduced to the rules: the devices of its stations under their
// reading keys, and its watermark. It publishes the way the runtime does:
// a close's device rows and their RollUp in one write, a change's device
// and station rows in the device's outbox.
type partition struct {
	rules   *Rules
	devices map[string]*Device // STATION|LINE|DEVICE
	through int64
	has     bool
	pub     []ClosedRow // everything published, in order: device rows keyed by device, station rows by station
	t       *testing.T
}

func newPartition(t *testing.T, rules *Rules) *partition {
	return &partition{t: t, rules: rules, devices: map[string]*Device{}}
}

// stationOf is the station key (the first two parts) of a reading key.
func stationOf(key string) string {
	parts := strings.SplitN(key, "|", 3)
	return parts[0] + "|" + parts[1]
}

// peers are the other devices of key's station.
func (p *partition) peers(key string) PeerList {
	var out PeerList
	for k, d := range p.devices {
		if k != key && stationOf(k) == stationOf(key) {
			out = append(out, d)
		}
	}
	return out
}

// apply applies a reading unless it is too late; it reports whether it
// was accepted (applied or a duplicate).
func (p *partition) apply(key string, r Reading) bool {
	d := p.devices[key]
	if d == nil {
		d = NewDevice()
		if p.has {
			d.CatchUp(p.rules, p.through)
		}
		p.devices[key] = d
	}
	if p.has && r.T < p.through-p.rules.Retention || d.Expired(p.rules, r.T) {
		return false
	}
	d.Outbox = Outbox{}
	d.Apply(p.rules, r, "IRT", Stamp{}, p.peers(key))
	p.take(key, d)
	return true
}

func (p *partition) take(key string, d *Device) {
	for _, w := range d.Outbox.Windows {
		p.pub = append(p.pub, ClosedRow{Key: key, Row: w})
	}
	for _, w := range d.Outbox.Stations {
		p.pub = append(p.pub, ClosedRow{Key: stationOf(key), Row: w})
	}
	d.Outbox = Outbox{}
}

// advance moves the watermark to t and closes: every device's first
// revisions and their station rollup.
func (p *partition) advance(t int64) {
	if p.has && t <= p.through {
		return
	}
	p.through, p.has = t, true
	keys := make([]string, 0, len(p.devices))
	for k := range p.devices {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var rows []ClosedRow
	for _, k := range keys {
		d := p.devices[k]
		d.Outbox = Outbox{}
		d.Close(p.rules, t, Stamp{})
		for _, w := range d.Outbox.Windows {
			rows = append(rows, ClosedRow{Key: k, Division: d.Division, Row: w})
		}
		d.Outbox = Outbox{}
	}
	p.pub = append(p.pub, rows...)
	p.pub = append(p.pub, RollUp(rows, stationOf)...)
}

// check verifies the publication invariants: revisions of each window
// count up by one, and each (window, revision) has one content. It returns
// the latest row of every window by key and start.
func (p *partition) check() map[string]map[int64]Row {
	p.t.Helper()
	latest := map[string]map[int64]Row{}
	for _, c := range p.pub {
		m := latest[c.Key]
		if m == nil {
			m = map[int64]Row{}
			latest[c.Key] = m
		}
		old := m[c.Row.Start]
		if c.Row.Rev != old.Rev+1 {
			p.t.Fatalf("%s window %d: revision %d after %d", c.Key, c.Row.Start, c.Row.Rev, old.Rev)
		}
		m[c.Row.Start] = c.Row
	}
	return latest
}

func TestStationRollup(t *testing.T) {
	rules := testRules(Cumulative)
	p := newPartition(t, rules)
	a, b, c := "59 ST|NQR|A|R1|00", "59 ST|NQR|A|R1|01", "59 ST|NQR|B|R1|00"
	other := "86 ST|1|C|R2|00"
	p.apply(a, rd(1, 100, 50, "a1"))
	p.apply(a, rd(3, 110, 52, "a2")) // +10/+2 in [0,5)
	p.apply(b, rd(2, 200, 70, "b1"))
	p.apply(b, rd(4, 205, 71, "b2")) // +5/+1 in [0,5)
	p.apply(other, rd(2, 1, 1, "o1"))
	if len(p.pub) != 0 {
		t.Fatalf("published before close: %+v", p.pub)
	}
	p.advance(10 * minute) // [0,5) closes
	latest := p.check()
	if got, want := latest["59 ST|NQR"][0], (Row{Start: 0, End: 5 * minute, Rev: 1, Entries: 15, Exits: 3, Devices: 2}); got != want {
		t.Fatalf("station row at close: %+v, want %+v", got, want)
	}
	if got := latest["86 ST|1"][0]; got.Devices != 1 || got.Rev != 1 {
		t.Fatalf("other station at close: %+v", got)
	}
	// A late reading of b between b1 and b2 splits its difference: b's
	// row is unchanged, so nothing is published.
	n := len(p.pub)
	p.apply(b, rd(3, 203, 70, "b-late"))
	if len(p.pub) != n {
		t.Fatalf("an unchanged window republished: %+v", p.pub[n:])
	}
	// A late reading of a before a1 changes a's [0,5) (its first reading
	// now contributes): device and station are corrected in one write.
	p.apply(a, rd(0.5, 90, 45, "a0"))
	latest = p.check()
	if got, want := latest["59 ST|NQR"][0], (Row{Start: 0, End: 5 * minute, Rev: 2, Entries: 25, Exits: 8, Devices: 2}); got != want {
		t.Fatalf("station after correction: %+v, want %+v", got, want)
	}
	if got := latest[a][0]; got.Rev != 2 || got.Entries != 20 {
		t.Fatalf("device after correction: %+v", got)
	}
	// A new device joining the closed window with zero counts (its first
	// reading) changes DEVICES only: a station correction, revision 3.
	p.apply(c, rd(2, 500, 500, "c1"))
	latest = p.check()
	if got, want := latest["59 ST|NQR"][0], (Row{Start: 0, End: 5 * minute, Rev: 3, Entries: 25, Exits: 8, Devices: 3}); got != want {
		t.Fatalf("station after a zero-count device joined: %+v, want %+v", got, want)
	}
	if got := latest[c][0]; got.Rev != 1 {
		t.Fatalf("the joining device's window: %+v, want revision 1", got)
	}
}

// TestStationConvergesToReference is the station rollup's property over a
// whole partition: readings of several stations' devices in any order,
// redelivered, late within retention, with the watermark closing windows
// at random points, in both emit modes. The latest revision of every
// device and station window equals the reference over the accepted
// readings, revisions count up by one, and with in-order input in final
// mode every window is published exactly once.
func TestStationConvergesToReference(t *testing.T) {
	for _, emit := range []EmitMode{EmitFinal, EmitUpdates} {
		for _, shuffled := range []bool{false, true} {
			for seed := uint64(1); seed <= 25; seed++ {
				t.Run(fmt.Sprintf("%s/shuffled=%v/seed=%d", emit, shuffled, seed), func(t *testing.T) {
					stationConverges(t, emit, shuffled, seed)
				})
			}
		}
	}
}

func stationConverges(t *testing.T, emit EmitMode, shuffled bool, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 11))
	rules := testRules(Cumulative)
	rules.Emit = emit
	rules.Retention = 240 * minute
	type in struct {
		key     string
		r       Reading
		id      string
		station string
	}
	var stream []in
	for s := range 3 {
		station := fmt.Sprintf("ST %d|L%d", s, s%2)
		for d := range 1 + rng.IntN(4) {
			key := fmt.Sprintf("%s|C%d|R%d|%02d", station, s, s, d)
			e, x := int64(1000*d), int64(500*d)
			for i := range 20 {
				e += int64(rng.IntN(30))
				x += int64(rng.IntN(10))
				id := fmt.Sprintf("%s-%d", key, i)
				tm := int64(i)*4*minute + int64(rng.IntN(int(3*minute)))
				stream = append(stream, in{key, Reading{T: tm, Entries: e, Exits: x, ID: hashID(id), Desc: "REGULAR"}, id, station})
			}
		}
	}
	sort.SliceStable(stream, func(i, j int) bool { return stream[i].r.T < stream[j].r.T })
	if shuffled {
		for i := range stream {
			if j := i + rng.IntN(8); j < len(stream) {
				stream[i], stream[j] = stream[j], stream[i]
			}
		}
		for range 5 {
			stream = append(stream, stream[rng.IntN(len(stream))])
		}
	}
	p := newPartition(t, rules)
	var newest int64
	var accepted []reference.Reading
	for i, x := range stream {
		if p.apply(x.key, x.r) {
			st, line, _ := strings.Cut(x.station, "|")
			accepted = append(accepted, reference.Reading{Device: x.key, Station: st, Line: line, T: x.r.T,
				Entries: x.r.Entries, Exits: x.r.Exits, ID: x.id, Desc: x.r.Desc})
		}
		newest = max(newest, x.r.T)
		// The watermark trails the newest reading by up to grace.
		if rng.IntN(4) == 0 || i == len(stream)-1 {
			p.advance(newest - int64(rng.IntN(int(rules.Grace))))
		}
	}
	p.advance(newest + rules.Windows.Size + rules.Grace)
	latest := p.check()

	params := reference.Params{SizeMs: rules.Windows.Size, SlideMs: rules.Windows.Slide, Cumulative: true, MaxDelta: rules.MaxDelta}
	wantDev := reference.Devices(params, accepted)
	wantSt := reference.StationsOf(wantDev, accepted)
	gotDev := map[reference.DeviceKey]reference.Row{}
	gotSt := map[reference.StationKey]reference.Row{}
	for key, ws := range latest {
		for start, w := range ws {
			if strings.Count(key, "|") == 4 {
				gotDev[reference.DeviceKey{Device: key, Start: start}] = reference.Row{Entries: w.Entries, Exits: w.Exits, Desc: w.Desc}
			} else {
				st, line, _ := strings.Cut(key, "|")
				gotSt[reference.StationKey{Station: st, Line: line, Start: start}] = reference.Row{Entries: w.Entries, Exits: w.Exits, Devices: int(w.Devices)}
			}
		}
	}
	if !reflect.DeepEqual(gotDev, wantDev) {
		t.Errorf("device windows differ from the reference:\n got %v\nwant %v", gotDev, wantDev)
	}
	if !reflect.DeepEqual(gotSt, wantSt) {
		t.Errorf("station windows differ from the reference:\n got %v\nwant %v", gotSt, wantSt)
	}
	if emit == EmitFinal && !shuffled {
		for _, c := range p.pub {
			if c.Row.Rev != 1 {
				t.Fatalf("in-order input published %s window %d revision %d", c.Key, c.Row.Start, c.Row.Rev)
			}
		}
	}
}

func TestRollUpGroupsByStationAndWindow(t *testing.T) {
	at := time.Date(2024, 1, 6, 3, 0, 0, 0, time.UTC).UnixMilli()
	row := func(e, x int64, start int64) Row {
		return Row{Start: start, End: start + 5*minute, Rev: 1, Entries: e, Exits: x}
	}
	got := RollUp([]ClosedRow{
		{Key: "B|1|x|y|1", Division: "", Row: row(1, 2, at)},
		{Key: "A|2|x|y|1", Division: "IRT", Row: row(3, 4, at)},
		{Key: "B|1|x|y|2", Division: "BMT", Row: row(5, 6, at)},
		{Key: "B|1|x|y|2", Division: "BMT", Row: row(7, 8, at+5*minute)},
	}, stationOf)
	want := []ClosedRow{
		{Key: "A|2", Division: "IRT", Row: Row{Start: at, End: at + 5*minute, Rev: 1, Entries: 3, Exits: 4, Devices: 1}},
		{Key: "B|1", Division: "BMT", Row: Row{Start: at, End: at + 5*minute, Rev: 1, Entries: 6, Exits: 8, Devices: 2}},
		{Key: "B|1", Division: "BMT", Row: Row{Start: at + 5*minute, End: at + 10*minute, Rev: 1, Entries: 7, Exits: 8, Devices: 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RollUp:\n got %+v\nwant %+v", got, want)
	}
}
