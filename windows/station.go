package windows

import "sort"

// A station window (STATION+LINENAME) is the sum of its devices' windows,
// with DEVICES the number of devices that have a reading in it. Every
// device of a station lives on one partition of the windowed stage, so the
// station rollup needs no state of its own and no hop: a station window's
// row is computed from its devices wherever one of them publishes.
//
//   - Its first revision is published by the close that publishes its
//     devices' first revisions, in the same write ([RollUp]); each of
//     those devices records it (Device.StationEmitted).
//   - A later change (a late reading, or an update in EmitUpdates mode)
//     is published by the device whose change causes it, in that device's
//     outbox, with the next revision after the greatest any of the
//     station's devices recorded ([Device.Apply] through [Peers]).

// Peers are the other devices of a device's station, all on its partition,
// each caught up to the partition's watermark. The runtime implements it;
// Apply calls it only when a station window must be published after a
// change.
type Peers interface {
	EachPeer(fn func(*Device))
}

// PeerList is a Peers over a slice (tests, and callers that have the
// devices at hand).
type PeerList []*Device

// EachPeer calls fn for every device of the list.
func (l PeerList) EachPeer(fn func(*Device)) {
	for _, d := range l {
		fn(d)
	}
}

// StationTotals is a station window's row content: the sums of its
// devices' rows and how many devices have a reading in it.
type StationTotals struct {
	Entries, Exits int64
	Devices        int32
}

func (t *StationTotals) add(w WindowTotals) {
	if w.Has {
		t.Entries += w.Entries
		t.Exits += w.Exits
		t.Devices++
	}
}

// StationWindow is a station window's totals and latest revision over the
// given devices (every device of the station).
func StationWindow(rules *Rules, devices Peers, start int64) (StationTotals, int32) {
	var tot StationTotals
	var rev int32
	devices.EachPeer(func(d *Device) {
		tot.add(d.Totals(rules, start))
		rev = max(rev, d.StationEmitted.Rev(start))
	})
	return tot, rev
}

// publishStation publishes the device's station window start after a
// change that altered this device's share of it (after is its new row),
// when the rules say so: its totals and revision come from this device and
// its peers.
func (s *Device) publishStation(rules *Rules, start int64, closed bool, after WindowTotals, st Stamp, peers Peers) {
	if !closed && rules.Emit != EmitUpdates {
		return // an open window publishes nothing in EmitFinal mode
	}
	tot, rev := StationTotals{}, s.StationEmitted.Rev(start)
	tot.add(after)
	if peers != nil {
		t, r := StationWindow(rules, peers, start)
		tot.Entries, tot.Exits, tot.Devices = tot.Entries+t.Entries, tot.Exits+t.Exits, tot.Devices+t.Devices
		rev = max(rev, r)
	}
	if !rules.publishes(closed, tot.Devices > 0, true, rev) {
		return
	}
	s.StationEmitted.set(start, rev+1)
	s.Outbox.Stations = append(s.Outbox.Stations, Row{
		Start: start, End: rules.Windows.End(start), Rev: rev + 1, Gen: st.Gen,
		Entries: tot.Entries, Exits: tot.Exits, Devices: tot.Devices, EmittedAt: st.Now,
	})
}

// ClosedRow is one window row published by a close: a device's (Key is
// its reading key) or a station's (Key is its station key).
type ClosedRow struct {
	Key      string
	Division string
	Row      Row
}

// RollUp is the station rollup of a close: the first revision of every
// station window whose devices' first revisions devices holds (the rows
// one close published, for every device of the partition it closed),
// each the sum of its device rows with DEVICES their number. stationOf
// gives a device key's station key. Rows come out in station key, then
// start order; a station's DIVISION is the first non-empty one of its
// device rows.
func RollUp(devices []ClosedRow, stationOf func(deviceKey string) string) []ClosedRow {
	type sk struct {
		station string
		start   int64
	}
	byKey := map[sk]int{}
	var out []ClosedRow
	for _, d := range devices {
		k := sk{stationOf(d.Key), d.Row.Start}
		i, ok := byKey[k]
		if !ok {
			i = len(out)
			byKey[k] = i
			out = append(out, ClosedRow{Key: k.station, Row: Row{Start: d.Row.Start, End: d.Row.End, Rev: 1,
				Gen: d.Row.Gen, EmittedAt: d.Row.EmittedAt}})
		}
		r := &out[i]
		if r.Division == "" {
			r.Division = d.Division
		}
		r.Row.Entries += d.Row.Entries
		r.Row.Exits += d.Row.Exits
		r.Row.Devices++
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Row.Start < out[j].Row.Start
	})
	return out
}
