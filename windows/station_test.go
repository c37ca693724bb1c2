package windows

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestStationRollup(t *testing.T) {
	sem := testRules(Cumulative)
	s := NewStation()
	row := func(dev string, startMin int64, e, x int64, rev int32) *DeviceRow {
		return &DeviceRow{Device: dev, Station: "59 ST", Line: "NQR456W", Division: "BMT",
			Start: startMin * minute, End: (startMin + 5) * minute, Entries: e, Exits: x, Rev: rev}
	}
	var pub []Row
	take := func() { pub = append(pub, s.Outbox.Windows...); s.Outbox = Outbox{} }

	s.Apply(sem, row("A", 0, 10, 1, 1), Stamp{})
	s.Apply(sem, row("B", 0, 5, 2, 1), Stamp{})
	s.Apply(sem, row("B", 0, 5, 2, 1), Stamp{}) // redelivered: ignored
	take()
	if len(pub) != 0 {
		t.Fatalf("published before close: %+v", pub)
	}
	if at, ok := s.NextClose(sem); !ok || at != 10*minute {
		t.Fatalf("NextClose = %d %v", at, ok)
	}
	s.Close(sem, 10*minute, Stamp{})
	take()
	want := []Row{{Start: 0, End: 5 * minute, Rev: 1, Entries: 15, Exits: 3, Devices: 2}}
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("got %+v want %+v", pub, want)
	}
	// A correction of device B (revision 2) corrects the station window.
	s.Apply(sem, row("B", 0, 7, 2, 2), Stamp{})
	// An older revision arriving late changes nothing.
	s.Apply(sem, row("B", 0, 6, 2, 1), Stamp{})
	take()
	want = append(want, Row{Start: 0, End: 5 * minute, Rev: 2, Entries: 17, Exits: 3, Devices: 2})
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("got %+v want %+v", pub, want)
	}
	if s.Stale != 2 || s.Accepted != 3 || s.Expired != 0 {
		t.Fatalf("stale %d accepted %d", s.Stale, s.Accepted)
	}
	// An idle close far ahead (wall clock) must not make later revisions
	// of recent windows expire: they still count as corrections.
	s.Close(sem, 1000*60*minute, Stamp{})
	take()
	s.Apply(sem, row("C", 0, 1, 1, 1), Stamp{})
	take()
	want = append(want, Row{Start: 0, End: 5 * minute, Rev: 3, Entries: 18, Exits: 4, Devices: 3})
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("after idle close: got %+v want %+v", pub, want)
	}
	// A device joining a closed window with zero counts (its first reading
	// in cumulative mode) changes DEVICES only: that is a correction too.
	s.Apply(sem, row("D", 0, 0, 0, 1), Stamp{})
	take()
	want = append(want, Row{Start: 0, End: 5 * minute, Rev: 4, Entries: 18, Exits: 4, Devices: 4})
	if !reflect.DeepEqual(pub, want) {
		t.Fatalf("zero-count device: got %+v want %+v", pub, want)
	}
}

// TestStationConvergesUnderAnyOrder is the station rollup's property:
// whatever the order in which device revisions arrive, however often they
// are redelivered, and wherever closes fall between them, the latest
// published revision of every station window is the sum of its devices'
// latest revisions, with DEVICES counting them, and revision numbers grow
// by one.
func TestStationConvergesUnderAnyOrder(t *testing.T) {
	for _, emit := range []EmitMode{EmitFinal, EmitUpdates} {
		for seed := uint64(1); seed <= 50; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", emit, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 11))
				rules := testRules(Cumulative)
				rules.Emit = emit
				type key struct {
					dev   string
					start int64
				}
				latest := map[key]*DeviceRow{}
				var stream []*DeviceRow
				for d := range 4 {
					dev := fmt.Sprintf("D%d", d)
					for w := range int64(6) {
						for rev := int32(1); rev <= int32(1+rng.IntN(3)); rev++ {
							r := &DeviceRow{Device: dev, Division: "IRT", Start: w * 5 * minute, End: (w + 1) * 5 * minute,
								Entries: int64(rng.IntN(100)), Exits: int64(rng.IntN(50)), Rev: rev}
							stream = append(stream, r)
							latest[key{dev, r.Start}] = r
						}
					}
				}
				rng.Shuffle(len(stream), func(i, j int) { stream[i], stream[j] = stream[j], stream[i] })
				for range 10 { // redeliveries
					stream = append(stream, stream[rng.IntN(len(stream))])
				}
				s := NewStation()
				got := map[int64]Row{}
				take := func() {
					for _, w := range s.Outbox.Windows {
						if w.Rev != got[w.Start].Rev+1 {
							t.Fatalf("window %d: rev %d after %d", w.Start, w.Rev, got[w.Start].Rev)
						}
						got[w.Start] = w
					}
					s.Outbox = Outbox{}
				}
				var through int64
				for _, r := range stream {
					s.Apply(rules, r, Stamp{})
					take()
					if rng.IntN(8) == 0 {
						through += 5 * minute
						s.Close(rules, through, Stamp{})
						take()
					}
				}
				s.Close(rules, 100*minute, Stamp{})
				take()
				want := map[int64]Row{}
				for k, r := range latest {
					w := want[k.start]
					w.Start, w.End = r.Start, r.End
					w.Entries += r.Entries
					w.Exits += r.Exits
					w.Devices++
					want[k.start] = w
				}
				for start, w := range want {
					g := got[start]
					if g.Entries != w.Entries || g.Exits != w.Exits || g.Devices != w.Devices || g.End != w.End {
						t.Errorf("window %d: got %+v, want %+v", start, g, w)
					}
				}
				if len(got) != len(want) {
					t.Errorf("%d windows published, want %d", len(got), len(want))
				}
			})
		}
	}
}
