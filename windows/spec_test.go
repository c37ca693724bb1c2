package windows

import (
	"reflect"
	"testing"
	"time"
)

func TestWindowsOf(t *testing.T) {
	min := time.Minute.Milliseconds()
	tests := []struct {
		name        string
		size, slide time.Duration
		t           int64
		want        []int64
	}{
		{"tumbling inside", 5 * time.Minute, 0, 7 * min, []int64{5 * min}},
		{"tumbling on boundary belongs to the next", 5 * time.Minute, 0, 5 * min, []int64{5 * min}},
		{"tumbling just before boundary", 5 * time.Minute, 0, 5*min - 1, []int64{0}},
		{"hopping 10m/5m", 10 * time.Minute, 5 * time.Minute, 12 * min, []int64{5 * min, 10 * min}},
		{"hopping on boundary", 10 * time.Minute, 5 * time.Minute, 10 * min, []int64{5 * min, 10 * min}},
		{"hopping uneven 10m/3m", 10 * time.Minute, 3 * time.Minute, 10 * min, []int64{3 * min, 6 * min, 9 * min}},
		{"before the epoch", 5 * time.Minute, 0, -1, []int64{-5 * min}},
		{"hopping before the epoch", 10 * time.Minute, 5 * time.Minute, -1, []int64{-10 * min, -5 * min}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewSpec(tt.size, tt.slide)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			w.Of(tt.t, func(s int64) { got = append(got, s) })
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Of(%d) = %v, want %v", tt.t, got, tt.want)
			}
			for _, s := range got {
				if !(s <= tt.t && tt.t < s+w.Size) {
					t.Fatalf("window %d does not contain %d", s, tt.t)
				}
			}
		})
	}
}

func TestNewWindowsRejects(t *testing.T) {
	for _, c := range []struct{ size, slide time.Duration }{{0, 0}, {time.Minute, 2 * time.Minute}, {time.Minute, -time.Second}} {
		if _, err := NewSpec(c.size, c.slide); err == nil {
			t.Errorf("NewSpec(%v, %v) accepted", c.size, c.slide)
		}
	}
}

func TestCloseStepsAndIdleTarget(t *testing.T) {
	sem := &Rules{Windows: Spec{Size: 5 * minute, Slide: 5 * minute}, Grace: 5 * minute}
	for _, tc := range []struct{ t, step, at int64 }{
		{10 * minute, 0, 10 * minute}, // [0,5) closes at 10
		{14 * minute, 0, 10 * minute},
		{15 * minute, 1, 15 * minute},
		{9 * minute, -1, 5 * minute},
	} {
		if got := sem.CloseStep(tc.t); got != tc.step || sem.CloseTime(got) != tc.at {
			t.Errorf("CloseStep(%d min) = %d (closes at %d min), want %d (%d min)", tc.t/minute, got, sem.CloseTime(got)/minute, tc.step, tc.at/minute)
		}
	}
	for _, tc := range []struct {
		name               string
		newest, wall, want int64
	}{
		// a backfill: the window holding the newest reading closes, no more
		{"far behind the wall clock", 62 * minute, 1000 * minute, 70 * minute},
		{"on a window start", 60 * minute, 1000 * minute, 70 * minute},
		// a live stream that pauses: never past the wall clock, on a close time
		{"at the wall clock", 62 * minute, 67 * minute, 65 * minute},
		{"wall exactly on a close", 62 * minute, 65 * minute, 65 * minute},
	} {
		if got := sem.IdleTarget(tc.newest, tc.wall); got != tc.want {
			t.Errorf("%s: idleTarget = %d min, want %d min", tc.name, got/minute, tc.want/minute)
		}
	}
	sliding := &Rules{Windows: Spec{Size: 10 * minute, Slide: 5 * minute}, Grace: 0}
	// newest 62 lies in [55,65) and [60,70): the later closes at 70
	if got := sliding.IdleTarget(62*minute, 1000*minute); got != 70*minute {
		t.Errorf("sliding: idleTarget = %d min, want 70", got/minute)
	}
}
