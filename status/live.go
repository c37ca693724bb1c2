package status

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/processors"
)

// Live prints a compact status block every Interval while a process runs
// (turnstile dev, turnstile process): rates from the process's own
// counters, lag from Kafka.
type Live struct {
	// Out receives each status block unless Show is set.
	Out io.Writer
	// Show, when set, receives each block instead of Out, and a first
	// one at once: a console.Console's SetStatus, which redraws the block
	// in place on a terminal.
	Show func(block string)
	// Interval is how often a block is shown (default 5s).
	Interval time.Duration
	// Metrics returns the process's counters (all its members summed).
	Metrics func() processors.Snapshot
	// LakeFiles returns the files the process's lake-writer wrote; nil
	// when it runs none.
	LakeFiles func() int64
	// Admin reads the lag and counts from Kafka (Collect); nil leaves them
	// out of the block.
	Admin *kadm.Client
	// Config names what the Kafka part of the block covers (see Collect).
	Config Config
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Defaults fills zero fields (Interval also when negative).
func (l *Live) Defaults() {
	if l.Interval <= 0 {
		l.Interval = 5 * time.Second
	}
	if l.Now == nil {
		l.Now = time.Now
	}
}

// Run prints until ctx ends.
func (l *Live) Run(ctx context.Context) error {
	l.Defaults()
	prev, prevAt := l.Metrics(), l.Now()
	show := l.Show
	if show == nil {
		show = func(block string) { fmt.Fprint(l.Out, block) }
	} else {
		show(fmt.Sprintf("%s  starting: the first rates in %v\n", prevAt.Format("15:04:05"), l.Interval))
	}
	tk := time.NewTicker(l.Interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tk.C:
		}
		cur, at := l.Metrics(), l.Now()
		var rep *Report
		if l.Admin != nil {
			qctx, cancel := context.WithTimeout(ctx, l.Interval)
			r, err := Collect(qctx, l.Admin, l.Config)
			cancel()
			if err == nil {
				rep = r
			}
		}
		var files int64 = -1
		if l.LakeFiles != nil {
			files = l.LakeFiles()
		}
		show(l.Format(prev, cur, at.Sub(prevAt), rep, files, at))
		prev, prevAt = cur, at
	}
}

// Format renders one status block from two snapshots taken elapsed apart,
// a Kafka report (nil: unavailable) and the lake files (-1: no
// lake-writer).
func (l *Live) Format(prev, cur processors.Snapshot, elapsed time.Duration, rep *Report, lakeFiles int64, at time.Time) string {
	t := l.Config.Topics
	secs := elapsed.Seconds()
	if secs <= 0 {
		secs = 1
	}
	rate := func(a, b float64) string { return fmt.Sprintf("%.0f", (b-a)/secs) }
	pub := func(s processors.Snapshot, topic string, kinds ...string) float64 {
		var n float64
		for k, v := range s.Published[topic] {
			if len(kinds) == 0 || slices.Contains(kinds, k) {
				n += v
			}
		}
		return n
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  in/s  ingest %s  windows %s   out/s  readings %s  device windows %s  station windows %s\n",
		at.Format("15:04:05"),
		rate(prev.In[processors.StageIngest], cur.In[processors.StageIngest]),
		rate(prev.In[processors.StageWindows], cur.In[processors.StageWindows]),
		rate(prev.In[processors.StageIngest]-prev.Rejected, cur.In[processors.StageIngest]-cur.Rejected),
		rate(pub(prev, t.DeviceWindows), pub(cur, t.DeviceWindows)),
		rate(pub(prev, t.StationWindows), pub(cur, t.StationWindows)))
	b.WriteString("          lag  ")
	if rep == nil {
		b.WriteString("unavailable")
	} else {
		for i, g := range rep.Groups {
			if i > 0 {
				b.WriteString("  ")
			}
			if g.Absent {
				fmt.Fprintf(&b, "%s -", g.Group)
			} else {
				fmt.Fprintf(&b, "%s %d", g.Group, g.Lag)
			}
		}
	}
	b.WriteByte('\n')
	var open []string
	for _, g := range slices.Sorted(maps.Keys(cur.OpenKeys)) {
		open = append(open, fmt.Sprintf("%s %.0f", g, cur.OpenKeys[g]))
	}
	if len(open) == 0 {
		open = []string{"-"}
	}
	fmt.Fprintf(&b, "          open keys  %s   windows  device %.0f (+%.0f corrected)  station %.0f (+%.0f corrected)   dead-lettered %.0f  too late %.0f",
		strings.Join(open, "  "),
		pub(cur, t.DeviceWindows, "first"), pub(cur, t.DeviceWindows, "correction"),
		pub(cur, t.StationWindows, "first"), pub(cur, t.StationWindows, "correction"),
		cur.Rejected, cur.Late)
	if lakeFiles >= 0 {
		fmt.Fprintf(&b, "   lake files %d", lakeFiles)
	}
	b.WriteByte('\n')
	if len(cur.Watermarks) > 0 {
		b.WriteString("          watermark")
		for _, g := range slices.Sorted(maps.Keys(cur.Watermarks)) {
			fmt.Fprintf(&b, "  %s %s", g, FormatWatermark(cur.Watermarks[g]))
		}
		b.WriteByte('\n')
	}
	// Warnings last, in the block: shown while they hold, one line each
	// per block, gone when they stop.
	for _, w := range Warnings(prev, cur, t.Late) {
		fmt.Fprintf(&b, "          WARNING  %s\n", w)
	}
	return b.String()
}

// FormatWatermark says where a partition's watermark is and what holds it:
// "p3 2024-01-06T10:15:00Z (-12m0s, held by source 2)".
func FormatWatermark(v processors.WatermarkView) string {
	if v.Time.IsZero() {
		return fmt.Sprintf("p%d none yet (waiting for %d sources, first %d)", v.Partition, v.Waiting, v.Holder)
	}
	held := fmt.Sprintf("held by source %d", v.Holder)
	if v.Holder < 0 {
		held = "all sources idle"
	}
	return fmt.Sprintf("p%d %s (-%s, %s)", v.Partition, v.Time.Format(time.RFC3339), v.Lag.Round(time.Second), held)
}
