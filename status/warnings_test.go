package status_test

import (
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/status"
)

func TestWarnings(t *testing.T) {
	snap := func(applied, dup, late float64) processors.Snapshot {
		return processors.Snapshot{Outcomes: map[string]float64{
			processors.OutcomeApplied: applied, processors.OutcomeDuplicate: dup, processors.OutcomeLate: late}}
	}
	wm := time.Date(2026, 11, 30, 13, 5, 0, 0, time.UTC)
	withWatermark := snap(1000, 0, 23575)
	withWatermark.Watermarks = map[string]processors.WatermarkView{
		"station-windows":   {Time: wm.Add(-10 * time.Minute)},
		"turnstile-windows": {Time: wm},
	}
	tests := []struct {
		name      string
		prev, cur processors.Snapshot
		want      []string // substrings of the one warning; nil: none
	}{
		{"all well", snap(100, 0, 0), snap(5000, 3, 0), nil},
		{"nothing happened", snap(100, 0, 6020), snap(100, 0, 6020), nil},
		{"a trickle of late readings", snap(0, 0, 0), snap(900, 0, 100), nil},
		{"too few to tell", snap(0, 0, 0), snap(0, 0, 9), nil},
		{"a restarted producer behind the state", snap(1000, 0, 6020), snap(1000, 0, 22575),
			[]string{"16555 of the last 16555 readings were too late", "mta-turnstile-late", "see turnstile replay", "started behind the stored state"}},
		{"half late", snap(0, 0, 0), snap(40, 10, 50), []string{"50 of the last 100 readings"}},
		{"the watermark it is behind", snap(1000, 0, 6020), withWatermark, []string{"watermark 2026-11-30T13:05:00Z minus retention"}},
		{"counters restarted", snap(1000, 0, 50000), snap(10, 0, 20), []string{"20 of the last 30"}},
		{"no counters yet", processors.Snapshot{}, processors.Snapshot{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := status.Warnings(tt.prev, tt.cur, "mta-turnstile-late")
			if tt.want == nil {
				if len(got) != 0 {
					t.Fatalf("warnings %q, want none", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("warnings %q, want one", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("%q lacks %q", got[0], w)
				}
			}
		})
	}
}

// TestLiveShowsWarnings: the live status block carries the warning while
// it holds, and not otherwise.
func TestLiveShowsWarnings(t *testing.T) {
	l := &status.Live{Config: status.ForPipeline(processors.Config{}, "")}
	snap := func(applied, late float64) processors.Snapshot {
		return processors.Snapshot{Outcomes: map[string]float64{processors.OutcomeApplied: applied, processors.OutcomeLate: late}}
	}
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	block := l.Format(snap(100, 6020), snap(100, 22575), 80*time.Second, nil, -1, at)
	if !strings.Contains(block, "WARNING  16555 of the last 16555 readings were too late") || !strings.Contains(block, "mta-turnstile-late") {
		t.Errorf("no warning in the block:\n%s", block)
	}
	if block := l.Format(snap(100, 6020), snap(5000, 6020), 80*time.Second, nil, -1, at); strings.Contains(block, "WARNING") {
		t.Errorf("a warning once readings are on time again:\n%s", block)
	}
}
