package reference

import (
	"sort"
	"time"
)

// Reading is one accepted reading.
//
// A device's readings are one series per (Station, Line, Device): a
// reading under another STATION or LINENAME starts a new series, whose
// first reading contributes nothing (the pipeline keeps a device's state
// under its station). The output is keyed by Device and window start, so
// callers keep a device's station fixed within a window.
type Reading struct {
	Device                  string // CA|UNIT|SCP
	Station, Line, Division string
	T                       int64 // event time, Unix ms
	Entries, Exits          int64
	ID                      string
	Desc                    string
}

// Params are the window rules.
type Params struct {
	SizeMs, SlideMs int64
	Cumulative      bool
	MaxDelta        int64
	// Zone, when set, aligns windows to local midnight there (the
	// pipeline's --window-align local): see local.go. Nil: the Unix epoch.
	Zone *time.Location
}

// Row is one window's totals.
type Row struct {
	Entries, Exits int64
	Desc           string // DESC of the latest reading in the window
	Devices        int    // stations only
}

// DeviceKey identifies a device window.
type DeviceKey struct {
	Device string
	Start  int64
}

// StationKey identifies a station window.
type StationKey struct {
	Station, Line string
	Start         int64
}

func starts(p Params, t int64) []int64 {
	if p.Zone != nil {
		return localStarts(p, t)
	}
	var out []int64
	// every multiple of Slide in (t-Size, t]
	s := t - ((t%p.SlideMs)+p.SlideMs)%p.SlideMs
	for ; s > t-p.SizeMs; s -= p.SlideMs {
		out = append(out, s)
	}
	return out
}

// Devices computes every device window row. Readings with a repeated ID
// for the same device count once (the first in the slice).
func Devices(p Params, readings []Reading) map[DeviceKey]Row {
	type series struct{ station, line, device string }
	byDev := map[series][]Reading{}
	seen := map[[4]string]bool{}
	for _, r := range readings {
		k := [4]string{r.Station, r.Line, r.Device, r.ID}
		if seen[k] {
			continue
		}
		seen[k] = true
		s := series{r.Station, r.Line, r.Device}
		byDev[s] = append(byDev[s], r)
	}
	out := map[DeviceKey]Row{}
	last := map[DeviceKey]int64{}
	for s, rs := range byDev {
		dev := s.device
		sortEventTime(rs)
		for i, r := range rs {
			var de, dx int64
			switch {
			case !p.Cumulative:
				de, dx = r.Entries, r.Exits
			case i > 0:
				de, dx = r.Entries-rs[i-1].Entries, r.Exits-rs[i-1].Exits
				if de < 0 || de > p.MaxDelta {
					de = 0
				}
				if dx < 0 || dx > p.MaxDelta {
					dx = 0
				}
			}
			for _, s := range starts(p, r.T) {
				k := DeviceKey{dev, s}
				row := out[k]
				row.Entries += de
				row.Exits += dx
				if t, ok := last[k]; !ok || r.T >= t {
					row.Desc, last[k] = r.Desc, r.T
				}
				out[k] = row
			}
		}
	}
	return out
}

// Stations sums device windows per station (STATION+LINENAME); station is
// a lookup from device to its station and line.
func Stations(devices map[DeviceKey]Row, station func(device string) (name, line string)) map[StationKey]Row {
	out := map[StationKey]Row{}
	for k, r := range devices {
		n, l := station(k.Device)
		sk := StationKey{n, l, k.Start}
		row := out[sk]
		row.Entries += r.Entries
		row.Exits += r.Exits
		row.Devices++
		out[sk] = row
	}
	return out
}

// StationsOf is Stations with each device's station and line taken from
// its readings.
func StationsOf(devices map[DeviceKey]Row, readings []Reading) map[StationKey]Row {
	of := map[string][2]string{}
	for _, r := range readings {
		of[r.Device] = [2]string{r.Station, r.Line}
	}
	return Stations(devices, func(d string) (string, string) { return of[d][0], of[d][1] })
}

// Changeable lists the device and station windows that the readings named
// in late can change when they arrive after their windows closed: the
// windows of each such reading and, with cumulative counters, those of the
// device's next reading in event-time order, whose difference it splits.
// A pipeline that closes each window once must publish every other window
// exactly once.
func Changeable(p Params, readings []Reading, late map[string]bool) (map[DeviceKey]bool, map[StationKey]bool) {
	devices, stations := map[DeviceKey]bool{}, map[StationKey]bool{}
	byDev := map[[3]string][]Reading{}
	for _, r := range readings {
		k := [3]string{r.Station, r.Line, r.Device}
		byDev[k] = append(byDev[k], r)
	}
	mark := func(r Reading) {
		for _, s := range starts(p, r.T) {
			devices[DeviceKey{r.Device, s}] = true
			stations[StationKey{r.Station, r.Line, s}] = true
		}
	}
	for _, rs := range byDev {
		sortEventTime(rs)
		for i, r := range rs {
			if !late[r.ID] {
				continue
			}
			mark(r)
			if p.Cumulative && i+1 < len(rs) {
				mark(rs[i+1])
			}
		}
	}
	return devices, stations
}

// sortEventTime puts one device's readings in event-time order; equal
// times by counter values (the definition in docs/semantics.md), so arrival order
// and IDs never matter.
func sortEventTime(rs []Reading) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		switch {
		case a.T != b.T:
			return a.T < b.T
		case a.Entries != b.Entries:
			return a.Entries < b.Entries
		case a.Exits != b.Exits:
			return a.Exits < b.Exits
		}
		return a.ID < b.ID
	})
}
