package dashboard

import (
	"errors"
	"slices"
	"testing"
)

func TestEventIDs(t *testing.T) {
	lay := newLayout([]string{"mta-station-windows", "mta-turnstile-windows"}, []int32{3, 2})
	pos := []int64{12, 42, 0, 88, 90}
	id := lay.formatID("mta-station-windows", 1, 41, pos)
	if want := "mta-station-windows:1:41;mta-station-windows=12,42,0;mta-turnstile-windows=88,90"; id != want {
		t.Fatalf("formatID = %q, want %q", id, want)
	}
	all := []bool{true, true, true, true, true}
	for _, tc := range []struct {
		name    string
		id      string
		pos     []int64
		known   []bool
		wantErr error // nil: any error when errSet
		errSet  bool
	}{
		{name: "round trip", id: id, pos: pos, known: all},
		{name: "segments in any order", id: "x:0:1;mta-turnstile-windows=88,90;mta-station-windows=12,42,0", pos: pos, known: all},
		{name: "unknown topic ignored", id: "a:0:1;other=5,6;mta-station-windows=1,2,3",
			pos: []int64{1, 2, 3, 0, 0}, known: []bool{true, true, true, false, false}},
		{name: "more partitions than now ignored", id: "a:0:1;mta-turnstile-windows=7,8,9",
			pos: []int64{0, 0, 0, 7, 8}, known: []bool{false, false, false, true, true}},
		{name: "fewer partitions: the rest unknown", id: "a:0:1;mta-turnstile-windows=7",
			pos: []int64{0, 0, 0, 7, 0}, known: []bool{false, false, false, true, false}},
		{name: "a lone topic:partition:offset cannot resume exactly", id: "mta-station-windows:1:41", errSet: true, wantErr: errNoVector},
		{name: "empty", id: "", errSet: true, wantErr: errNoVector},
		{name: "negative offset", id: "a:0:1;mta-station-windows=1,-2,3", errSet: true},
		{name: "not a number", id: "a:0:1;mta-station-windows=1,x,3", errSet: true},
		{name: "stray segment", id: "a:0:1;mta-station-windows=1,2,3;junk", errSet: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, k, err := lay.parseID(tc.id)
			if tc.errSet {
				if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("parseID(%q) = %v, %v, %v; want error %v", tc.id, p, k, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(p, tc.pos) || !slices.Equal(k, tc.known) {
				t.Fatalf("parseID(%q) = %v, %v, %v; want %v, %v", tc.id, p, k, err, tc.pos, tc.known)
			}
		})
	}
}

func TestRing(t *testing.T) {
	for _, tc := range []struct {
		cap, push int
		want      []int64 // offsets kept
		from      int64
	}{
		{cap: 3, push: 2, want: []int64{0, 1}, from: 0},
		{cap: 3, push: 3, want: []int64{0, 1, 2}, from: 0},
		{cap: 3, push: 7, want: []int64{4, 5, 6}, from: 4},
		{cap: 1, push: 5, want: []int64{4}, from: 4},
	} {
		r := &ring{buf: make([]*event, tc.cap)}
		for o := 0; o < tc.push; o++ {
			if old := r.push(&event{offset: int64(o)}); old != nil {
				r.from = old.offset + 1
			}
		}
		var got []int64
		r.each(func(e *event) { got = append(got, e.offset) })
		if !slices.Equal(got, tc.want) || r.from != tc.from {
			t.Errorf("cap %d, %d pushed: kept %v from %d, want %v from %d", tc.cap, tc.push, got, r.from, tc.want, tc.from)
		}
	}
}
