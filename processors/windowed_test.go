package processors

import (
	"fmt"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

const minute = int64(60_000)

func testRules() *windows.Rules {
	w, _ := windows.NewSpec(5*time.Minute, 0)
	return &windows.Rules{Windows: w, Grace: 5 * minute, Retention: 60 * minute, Counters: windows.Cumulative, MaxDelta: 10000, Emit: windows.EmitFinal}
}

func hreading(key string, tMin float64, entries int64, id string) *wire.Reading {
	r := &wire.Reading{T: hbase + int64(tMin*float64(minute))}
	r.Station, r.LineName, r.CA, r.Unit, r.SCP = "S", "1", key, "R1", "00"
	r.ID, r.Entries, r.Desc = id, entries, "REGULAR"
	return r
}

func hmark(tMin float64) wire.Mark {
	return wire.Mark{Source: 0, Time: hbase + int64(tMin*float64(minute)), HasTime: true}
}

// TestClosesInSteps: one watermark advance that closes more windows than
// one metadata write may carry is written in steps, each a watermark with
// every close up to it and the station rollup of those closes; every
// window is published once, as revision 1, in the same write as the
// watermark that closed it.
func TestClosesInSteps(t *testing.T) {
	h := newHarness(t, testRules(), 1, 1, 0)
	const devices = 3000
	for i := range devices {
		key := fmt.Sprintf("d%04d", i)
		h.reading(hreading(key, 1, 100, key+"a"))  // window [0, 5)
		h.reading(hreading(key, 6, 110, key+"b"))  // window [5, 10)
		h.reading(hreading(key, 11, 120, key+"c")) // window [10, 15)
	}
	h.mark(hmark(1)) // the first watermark: nothing closes
	h.mark(hmark(30))
	h.relay()
	var rows, metas int
	last := int64(-1)
	for _, r := range h.parts[0].changelog {
		if r.value[0] != wire.TagPartition {
			continue
		}
		m, err := wire.DecodeMeta(r.value)
		if err != nil {
			t.Fatal(err)
		}
		metas++
		if len(m.Closes) > maxCloseRows {
			t.Errorf("a metadata write carries %d rows, more than %d", len(m.Closes), maxCloseRows)
		}
		for _, c := range m.Closes {
			if close := c.Row.End + h.stage.rules.Grace; !m.HasTime || close > m.StreamTime {
				t.Errorf("%s window %d closes at %d, beyond the write's watermark %d", c.Key, c.Row.Start, close, m.StreamTime)
			}
		}
		if m.HasTime && m.StreamTime < last {
			t.Errorf("watermark went back from %d to %d", last, m.StreamTime)
		}
		if m.HasTime {
			last = m.StreamTime
		}
		rows += len(m.Closes)
	}
	if rows != 3*devices {
		t.Errorf("%d rows published, want %d", rows, 3*devices)
	}
	if metas < 4 {
		t.Errorf("%d metadata writes; %d rows need at least 3 steps after the first mark", metas, rows)
	}
	if last != hbase+30*minute {
		t.Errorf("final watermark %s, want 00:30", hm(last))
	}
	for w, r := range h.latest {
		if r.row.Rev != 1 {
			t.Errorf("%v: revision %d", w, r.row.Rev)
		}
	}
	if got := h.check(); got != "ok: 9000 device and 3 station windows equal the reference" {
		t.Error(got)
	}
}

// TestCloseCatchUp: a device's own value is never rewritten to close it,
// so every reader catches it up to the watermark: after a restart on the
// same storage (a rebuilt clock, values read from storage), a reading in
// a closed window is a correction (revision 2, not a second revision 1),
// its station window is corrected in the same write, and further advances
// publish nothing twice.
func TestCloseCatchUp(t *testing.T) {
	h := newHarness(t, testRules(), 1, 1, 0)
	h.reading(hreading("a", 1, 100, "a1"))
	h.reading(hreading("a", 3, 110, "a2"))
	h.reading(hreading("b", 2, 500, "b1"))
	h.reading(hreading("b", 4, 520, "b2"))
	h.mark(hmark(4))
	h.mark(hmark(12)) // closes [0, 5) of both
	h.relay()
	if n := len(h.published); n != 3 {
		t.Fatalf("%d rows published by the advance, want 2 device windows and their station window", n)
	}

	h.restart()
	h.reading(hreading("a", 4, 115, "a3")) // late, within retention: a correction
	h.mark(hmark(13))
	h.mark(hmark(40))
	h.relay()
	var got []string
	for _, r := range h.published[3:] {
		got = append(got, r.String())
	}
	want := []string{
		"device S|1|a|R1|00 [00:00,00:05) gen=0 rev=2 entries=15 exits=0 desc=REGULAR",
		"station S|1 [00:00,00:05) gen=0 rev=2 entries=35 exits=0 devices=2",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("published after the restart:\n got %q\nwant %q", got, want)
	}
	if c := h.check(); c != "ok: 2 device and 1 station windows equal the reference" {
		t.Error(c)
	}
}
