package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
)

// fakeMember serves a fixed /metrics body, after delay, and counts the
// scrapes.
type fakeMember struct {
	body   string
	delay  time.Duration
	down   bool // closed before the report: does not answer
	srv    *httptest.Server
	served atomic.Int32
}

func (m *fakeMember) start(t *testing.T) string {
	t.Helper()
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		m.served.Add(1)
		select {
		case <-time.After(m.delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, m.body)
	}))
	t.Cleanup(m.srv.Close)
	if m.down {
		m.srv.Close()
	}
	return m.srv.URL
}

// gauges renders samples of one gauge in the text format.
func gauges(name string, samples ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s test\n# TYPE %s gauge\n", name, name)
	for _, s := range samples {
		fmt.Fprintf(&b, "%s%s\n", name, s)
	}
	return b.String()
}

func unix(s string) float64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return float64(t.UnixMilli()) / 1000
}

// TestCollectWatermarksFromMembers scrapes fake members: the parse of the
// gauges, the least partition of each group, partitions whose owner is
// missing, has no address, does not answer in time or does not report
// them, duplicate series of one process's members, and the text.
func TestCollectWatermarksFromMembers(t *testing.T) {
	// An input of another partition count than the pipeline's: the
	// ingest stage reports the sources.
	pcfg := processors.Config{InputPartitions: 4}
	pcfg.Defaults()
	stages := watermarkStages(pcfg.Stages())
	g := pcfg.Groups

	// Everything of the pipeline on one member.
	whole := gauges("turnstile_watermark_seconds",
		fmt.Sprintf(`{group="turnstile-windows",partition="0"} %v`, unix("2024-01-06T10:15:00Z")),
		fmt.Sprintf(`{group="turnstile-windows",partition="1"} %v`, unix("2024-01-06T10:00:00Z")),
		fmt.Sprintf(`{group="turnstile-windows",partition="3"} %v`, unix("2024-01-06T10:05:00Z"))) +
		gauges("turnstile_watermark_lag_seconds",
			`{group="turnstile-windows",partition="0"} 720`,
			`{group="turnstile-windows",partition="1"} 1620.4`,
			`{group="turnstile-windows",partition="3"} 0`) +
		gauges("turnstile_watermark_holder",
			`{group="turnstile-windows",partition="0"} 2`,
			`{group="turnstile-windows",partition="1"} -1`,
			`{group="turnstile-windows",partition="2"} 1`,
			`{group="turnstile-windows",partition="3"} 0`) +
		gauges("turnstile_watermark_waiting_sources",
			`{group="turnstile-windows",partition="0"} 0`,
			`{group="turnstile-windows",partition="1"} 0`,
			`{group="turnstile-windows",partition="2"} 2`,
			`{group="turnstile-windows",partition="3"} 0`) +
		gauges("turnstile_source_watermark_seconds",
			fmt.Sprintf(`{partition="0"} %v`, unix("2024-01-06T10:27:00Z")),
			fmt.Sprintf(`{partition="1"} %v`, unix("2024-01-06T09:00:00Z")),
			fmt.Sprintf(`{partition="2"} %v`, unix("2024-01-06T10:20:00Z"))) +
		gauges("turnstile_source_idle", `{partition="0"} 0`, `{partition="1"} 1`, `{partition="2"} 0`, `{partition="3"} 0`) +
		gauges("turnstile_open_keys", `{group="turnstile-windows",partition="0"} 7`)

	// Two members of one process on one registry: member 0 still has the
	// partition it lost, frozen at 09:00.
	shared := gauges("turnstile_watermark_seconds",
		fmt.Sprintf(`{group="turnstile-windows",member="0",partition="0"} %v`, unix("2024-01-06T09:00:00Z")),
		fmt.Sprintf(`{group="turnstile-windows",member="1",partition="0"} %v`, unix("2024-01-06T10:15:00Z"))) +
		gauges("turnstile_watermark_holder",
			`{group="turnstile-windows",member="0",partition="0"} 5`,
			`{group="turnstile-windows",member="1",partition="0"} 3`) +
		gauges("turnstile_watermark_waiting_sources",
			`{group="turnstile-windows",member="0",partition="0"} 0`,
			`{group="turnstile-windows",member="1",partition="0"} 0`)

	const (
		a, down, slow, other = "a", "down", "slow", "other"
	)
	tests := []struct {
		name    string
		members map[string]*fakeMember
		// owners per group: partition -> member name ("" no address);
		// a nil map fails the group's description.
		owners map[string]map[int32]string
		parts  map[string][]int32
		least  map[string]int32 // group (or ingest) -> partition, -1: none
		lines  []string         // in the text, blanks collapsed
		check  func(t *testing.T, w *Watermarks)
	}{
		{
			name:    "one member",
			members: map[string]*fakeMember{a: {body: whole}},
			owners: map[string]map[int32]string{g.Windows: {0: a, 1: a, 2: a, 3: a},
				g.Ingest: {0: a, 1: a, 2: a, 3: a}},
			parts: map[string][]int32{g.Windows: {0, 1, 2, 3}, g.Ingest: {0, 1, 2, 3}},
			least: map[string]int32{g.Windows: 2, g.Ingest: 3},
			lines: []string{
				"turnstile-windows p0 2024-01-06T10:15:00Z (-12m0s, held by source 2)",
				"p1 2024-01-06T10:00:00Z (-27m0s, all sources idle)",
				"p2 none yet (waiting for 2 sources, first 1) <- least",
				"p3 2024-01-06T10:05:00Z (-0s, held by source 0)",
				"turnstile-ingest p0 2024-01-06T10:27:00Z",
				"p1 2024-01-06T09:00:00Z (idle)",
				"p2 2024-01-06T10:20:00Z",
				"p3 none yet <- least active",
			},
			check: func(t *testing.T, w *Watermarks) {
				b, err := json.Marshal(w)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []string{`"watermark":"2024-01-06T10:15:00Z","lag_seconds":720,"held_by":2`,
					`"all_sources_idle":true`, `"waiting_sources":2`, `"idle":true`} {
					if !strings.Contains(string(b), s) {
						t.Errorf("JSON has no %s: %s", s, b)
					}
				}
			},
		},
		{
			name: "owners unknown, without address, silent, too slow",
			members: map[string]*fakeMember{a: {body: shared}, down: {down: true},
				slow: {body: whole, delay: 2 * time.Second}, other: {body: "# nothing here\n"}},
			owners: map[string]map[int32]string{g.Windows: {0: a, 1: down, 2: "", 4: other},
				g.Ingest: {0: slow, 1: a}},
			parts: map[string][]int32{g.Windows: {0, 1, 2, 3, 4}, g.Ingest: {0, 1}},
			least: map[string]int32{g.Windows: 0, g.Ingest: -1},
			lines: []string{
				"turnstile-windows p0 2024-01-06T10:15:00Z (-0s, held by source 3) <- least",
				"p2 unknown (owner advertises no HTTP address)",
				"p3 unknown (no owner)",
			},
			check: func(t *testing.T, w *Watermarks) {
				wg, _ := w.Group(g.Windows)
				if p := wg.Partitions[1]; !strings.Contains(p.Unknown, " did not answer: ") || p.Owner == "" {
					t.Errorf("down member: %+v", p)
				}
				if p := wg.Partitions[4]; !strings.HasPrefix(p.Unknown, "not reported by http://") {
					t.Errorf("member without the gauges: %+v", p)
				}
				if p := w.Sources.Partitions[0]; !strings.Contains(p.Unknown, "did not answer: context deadline exceeded") {
					t.Errorf("slow member: %+v", p)
				}
			},
		},
		{
			name:    "group not described",
			members: map[string]*fakeMember{a: {body: whole}},
			owners:  map[string]map[int32]string{g.Windows: nil, g.Ingest: {0: a, 1: a, 2: a, 3: a}},
			parts:   map[string][]int32{g.Windows: {0, 1, 2}, g.Ingest: {0, 1, 2, 3}},
			least:   map[string]int32{g.Windows: -1, g.Ingest: 3},
			lines:   []string{"turnstile-windows p0-p2 unknown (owner unknown: describe failed)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			urls := map[string]string{"": ""}
			for name, m := range tt.members {
				urls[name] = m.start(t)
			}
			owned := map[string]stageOwners{}
			for group, parts := range tt.parts {
				o := stageOwners{parts: parts, owners: map[int32]string{}}
				if tt.owners[group] == nil {
					o.err = errors.New("describe failed")
				}
				for p, name := range tt.owners[group] {
					o.owners[p] = urls[name]
				}
				owned[group] = o
			}
			start := time.Now()
			w := collectWatermarks(context.Background(), stages, owned, 300*time.Millisecond)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v with a 300ms scrape timeout", d)
			}
			for name, m := range tt.members {
				if n := m.served.Load(); !m.down && n != 1 {
					t.Errorf("member %s scraped %d times, want once", name, n)
				}
			}
			for group, want := range tt.least {
				got := int32(-1)
				if group == g.Ingest {
					for _, p := range w.Sources.Partitions {
						if p.Least {
							got = p.Partition
						}
					}
				} else {
					gw, ok := w.Group(group)
					if !ok {
						t.Fatalf("no group %s in %+v", group, w)
					}
					if p, ok := gw.Least(); ok {
						got = p.Partition
					}
				}
				if got != want {
					t.Errorf("%s: least partition %d, want %d", group, got, want)
				}
			}
			var b strings.Builder
			w.writeText(&b)
			var lines []string
			for _, l := range strings.Split(b.String(), "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			for _, want := range tt.lines {
				found := false
				for _, l := range lines {
					found = found || l == want
				}
				if !found {
					t.Errorf("no line %q in:\n%s", want, b.String())
				}
			}
			if tt.check != nil {
				tt.check(t, w)
			}
		})
	}
}
