package processors

import (
	"testing"
	"time"
)

// TestMarkInterval: a partition marks at the live throttle while it reads
// records appended just now, or without a timestamp, and at the catch-up
// throttle while it reads a backlog.
func TestMarkInterval(t *testing.T) {
	in := &intake{markEvery: 50 * time.Millisecond, catchUpMarkEvery: 100 * time.Millisecond}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		appended time.Time
		want     time.Duration
	}{
		{"no timestamp", time.Time{}, 50 * time.Millisecond},
		{"appended just now", now.Add(-30 * time.Millisecond), 50 * time.Millisecond},
		{"a second ago", now.Add(-catchUpAge), 50 * time.Millisecond},
		{"over a second ago", now.Add(-catchUpAge - time.Millisecond), 100 * time.Millisecond},
		{"a day ago (replay)", now.Add(-24 * time.Hour), 100 * time.Millisecond},
		{"the producer's clock ahead", now.Add(5 * time.Second), 50 * time.Millisecond},
	} {
		if got := in.markInterval(tc.appended, now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
