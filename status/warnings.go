package status

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
)

// Too-late readings are a warning when at least tooLateMin of them, and at
// least tooLateShare of the readings the device stage received, arrived in
// the interval: a trickle of late readings is normal (the late topic is
// there for them); a stream that is mostly too late is not.
const (
	tooLateMin   = 10
	tooLateShare = 0.5
)

// Warnings says what the user of a running member should know now, one
// line each; none when all is well. prev and cur are the member's counters
// at the start and the end of the last interval, lateTopic where too-late
// readings go. It is pure: the live status (Live) shows its lines in each
// block, and the dashboard's GET /api/health lists them, so both say the
// same, only while it is happening.
func Warnings(prev, cur processors.Snapshot, lateTopic string) []string {
	var out []string
	if w := tooLate(prev, cur, lateTopic); w != "" {
		out = append(out, w)
	}
	return out
}

// tooLate warns when most readings of the interval were too late: older
// than the watermark minus retention, so they change no window. The
// likely cause is a producer started behind the stored state (a restart
// from an earlier clock, a replay of old data).
func tooLate(prev, cur processors.Snapshot, lateTopic string) string {
	base := prev.Outcomes
	for k, v := range prev.Outcomes {
		if cur.Outcomes[k] < v {
			base = nil // the counters restarted: count from zero
		}
	}
	delta := func(k string) float64 { return cur.Outcomes[k] - base[k] }
	late := delta(processors.OutcomeLate)
	total := late + delta(processors.OutcomeApplied) + delta(processors.OutcomeDuplicate)
	if late < tooLateMin || late < tooLateShare*total {
		return ""
	}
	wm := ""
	if t := newestWatermark(cur); !t.IsZero() {
		wm = " " + t.Format(time.RFC3339)
	}
	return fmt.Sprintf("%.0f of the last %.0f readings were too late (older than the watermark%s minus retention; they went to %s): "+
		"a producer started behind the stored state, or old data? see turnstile replay", late, total, wm, lateTopic)
}

// newestWatermark is the most advanced of the member's windowed groups'
// watermarks (the device stage's, ahead of the stations'); zero if none.
func newestWatermark(s processors.Snapshot) time.Time {
	var t time.Time
	for _, g := range slices.Sorted(maps.Keys(s.Watermarks)) {
		if w := s.Watermarks[g].Time; w.After(t) {
			t = w
		}
	}
	return t
}
