package reference

import (
	"reflect"
	"sort"
	"testing"
	"time"
)

// TestLocalWindows: the definition's windows on New York's transition days
// (2024-03-10: 02:00 EST -> 03:00 EDT at 07:00Z; 2024-11-03: 02:00 EDT ->
// 01:00 EST at 06:00Z), start and end in UTC.
func TestLocalWindows(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	ms := func(s string) int64 {
		v, err := time.Parse("2006-01-02T15:04Z", s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UnixMilli()
	}
	for _, tc := range []struct {
		name        string
		size, slide time.Duration
		at          string
		want        [][2]string
	}{
		{"4h, 00-04 is 3 hours", 4 * time.Hour, 4 * time.Hour, "2024-03-10T07:30Z", [][2]string{{"2024-03-10T05:00Z", "2024-03-10T08:00Z"}}},
		{"24h, a 23-hour day", 24 * time.Hour, 24 * time.Hour, "2024-03-10T12:00Z", [][2]string{{"2024-03-10T05:00Z", "2024-03-11T04:00Z"}}},
		{"1h, 02:00 skipped", time.Hour, time.Hour, "2024-03-10T07:00Z", [][2]string{{"2024-03-10T07:00Z", "2024-03-10T08:00Z"}}},
		{"1h, 01:00 holds both passes", time.Hour, time.Hour, "2024-11-03T06:30Z", [][2]string{{"2024-11-03T05:00Z", "2024-11-03T07:00Z"}}},
		{"24h, a 25-hour day", 24 * time.Hour, 24 * time.Hour, "2024-11-03T12:00Z", [][2]string{{"2024-11-03T04:00Z", "2024-11-04T05:00Z"}}},
		{"sliding 2h/1h after the gap", 2 * time.Hour, time.Hour, "2024-03-10T07:30Z", [][2]string{{"2024-03-10T07:00Z", "2024-03-10T09:00Z"}}},
		{"sliding 2h/1h, second pass", 2 * time.Hour, time.Hour, "2024-11-03T06:30Z",
			[][2]string{{"2024-11-03T04:00Z", "2024-11-03T07:00Z"}, {"2024-11-03T05:00Z", "2024-11-03T08:00Z"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Params{SizeMs: tc.size.Milliseconds(), SlideMs: tc.slide.Milliseconds(), Zone: ny}
			got := starts(p, ms(tc.at))
			sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
			var want []int64
			for _, w := range tc.want {
				want = append(want, ms(w[0]))
				if end, ok := p.End(ms(w[0])); !ok || end != ms(w[1]) {
					t.Errorf("End(%s) = %v %v, want %s", w[0], time.UnixMilli(end).UTC(), ok, w[1])
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("windows of %s: %v, want %v", tc.at, got, want)
			}
		})
	}
	p := Params{SizeMs: time.Hour.Milliseconds(), SlideMs: time.Hour.Milliseconds(), Zone: ny}
	if _, ok := p.End(ms("2024-03-10T06:30Z")); ok {
		t.Error("End of a time no window starts at")
	}
}
