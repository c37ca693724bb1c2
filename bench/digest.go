package bench

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
)

// Digest summarizes a set of windows independently of order, so the
// variants can be compared without keeping millions of rows: the count, the
// totals, and a sum of per-window hashes (a missing, extra or different
// window changes it).
type Digest struct {
	Windows int64  `json:"windows"`
	Entries int64  `json:"entries"`
	Exits   int64  `json:"exits"`
	Devices int64  `json:"devices,omitempty"`
	Hash    uint64 `json:"hash"`
}

// Add counts one window: key is the device (CA|UNIT|SCP) or station
// (STATION|LINENAME), start its Unix-ms start; devices is 0 for device
// windows.
func (d *Digest) Add(key string, start, entries, exits, devices int64) {
	h := fnv.New64a()
	h.Write([]byte(key))
	var b [32]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(start))
	binary.LittleEndian.PutUint64(b[8:], uint64(entries))
	binary.LittleEndian.PutUint64(b[16:], uint64(exits))
	binary.LittleEndian.PutUint64(b[24:], uint64(devices))
	h.Write(b[:])
	d.Windows++
	d.Entries += entries
	d.Exits += exits
	d.Devices += devices
	d.Hash += h.Sum64()
}

func (d Digest) String() string {
	return fmt.Sprintf("%d windows, entries %d, exits %d, devices %d, hash %016x", d.Windows, d.Entries, d.Exits, d.Devices, d.Hash)
}

// windower computes tumbling device windows of readings that arrive in
// event-time order per device, as "the limit" does in memory and the
// usual-goka variant does per key: the difference to the device's previous
// reading (0 for the first, 0 when negative or above maxDelta), closing a
// window when the device's next reading falls in a later one. It is the
// definition of docs/semantics.md restricted to ordered input without duplicates,
// which is what the benchmark stream is; anything else is reported.
type windower struct {
	size, maxDelta int64
}

// deviceState is one device's running state.
type deviceState struct {
	Has         bool   `json:"has"`
	LastT       int64  `json:"last_t"`
	LastEntries int64  `json:"last_entries"`
	LastExits   int64  `json:"last_exits"`
	Start       int64  `json:"start"`
	Entries     int64  `json:"entries"`
	Exits       int64  `json:"exits"`
	Station     string `json:"station"`
	Line        string `json:"line"`
	OutOfOrder  bool   `json:"out_of_order,omitempty"`
}

// closedWindow is a window the next reading closed.
type closedWindow struct {
	Device  string `json:"device"`
	Station string `json:"station"`
	Line    string `json:"line"`
	Start   int64  `json:"start"`
	Entries int64  `json:"entries"`
	Exits   int64  `json:"exits"`
}

// apply adds a reading at t (Unix ms) to s and returns the window it
// closed, if any.
func (w windower) apply(s *deviceState, device, station, line string, t, entries, exits int64) (closedWindow, bool) {
	start := t - ((t%w.size)+w.size)%w.size
	var de, dx int64
	if s.Has {
		if t < s.LastT {
			s.OutOfOrder = true
		}
		de, dx = entries-s.LastEntries, exits-s.LastExits
		if de < 0 || de > w.maxDelta {
			de = 0
		}
		if dx < 0 || dx > w.maxDelta {
			dx = 0
		}
	}
	var (
		out    closedWindow
		closed bool
	)
	if s.Has && start != s.Start {
		out, closed = s.window(device), true
		s.Entries, s.Exits = 0, 0
	}
	s.Has, s.Start, s.LastT, s.LastEntries, s.LastExits = true, start, t, entries, exits
	s.Entries += de
	s.Exits += dx
	s.Station, s.Line = station, line
	return out, closed
}

// window is the device's open window.
func (s *deviceState) window(device string) closedWindow {
	return closedWindow{Device: device, Station: s.Station, Line: s.Line, Start: s.Start, Entries: s.Entries, Exits: s.Exits}
}

// stationKey identifies a station window.
type stationKey struct {
	station, line string
	start         int64
}

type stationRow struct{ entries, exits, devices int64 }

// rollup sums device windows into station windows.
type rollup map[stationKey]*stationRow

func (r rollup) add(w closedWindow) {
	k := stationKey{w.Station, w.Line, w.Start}
	row := r[k]
	if row == nil {
		row = &stationRow{}
		r[k] = row
	}
	row.entries += w.Entries
	row.exits += w.Exits
	row.devices++
}

func (r rollup) digest() Digest {
	var d Digest
	for k, row := range r {
		d.Add(k.station+"|"+k.line, k.start, row.entries, row.exits, row.devices)
	}
	return d
}

// Remove uncounts a window added with the same arguments.
func (d *Digest) Remove(key string, start, entries, exits, devices int64) {
	var x Digest
	x.Add(key, start, entries, exits, devices)
	d.Windows--
	d.Entries -= entries
	d.Exits -= exits
	d.Devices -= devices
	d.Hash -= x.Hash
}
