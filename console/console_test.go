package console_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/console"
)

// TestConsoleKeepsOneStatusView: whatever is logged between redraws, the
// screen shows the log lines in order above exactly one status view,
// wrapped to the width, and the rows the status scrolled off are logs
// only.
func TestConsoleKeepsOneStatusView(t *testing.T) {
	const w, h = 60, 14
	scr := newScreen(w, h)
	var out bytes.Buffer
	c := console.New(&out, func() (int, int) { return w, h })
	status := func(i int) string {
		return strings.Join([]string{
			"12:00:0" + string(rune('0'+i)) + "  in/s  ingest 301  windows 301  stations 60   out/s  readings 301  device windows 60",
			"          lag  turnstile-ingest 62  turnstile-windows 301",
		}, "\n")
	}
	c.SetStatus(status(0))
	for i := range 6 {
		if _, err := c.Write([]byte("level=WARN msg=first-" + string(rune('a'+i)) + "\n")); err != nil {
			t.Fatal(err)
		}
		// A line in two writes appears once it is complete.
		c.Write([]byte("level=ERROR msg=sec"))
		c.Write([]byte("ond-" + string(rune('a'+i)) + "\n"))
		c.SetStatus(status(i + 1))
	}
	c.Write([]byte("shutting down without a newline"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	scr.feed(strings.ReplaceAll(out.String(), "\n", "\r\n"))
	lines := scr.lines()

	wantStatus := console.Wrap(strings.Split(status(6), "\n"), w)
	if len(wantStatus) < 3 {
		t.Fatalf("the status wraps into %d rows at width %d: %q", len(wantStatus), w, wantStatus)
	}
	if got := lines[len(lines)-len(wantStatus):]; !slices.Equal(got, wantStatus) {
		t.Errorf("bottom of the screen:\n%s\nwant the last status:\n%s", strings.Join(got, "\n"), strings.Join(wantStatus, "\n"))
	}
	var logs []string
	for _, l := range append(scr.scrolled, lines[:len(lines)-len(wantStatus)]...) {
		if strings.Contains(l, "in/s") || strings.Contains(l, "lag ") {
			t.Errorf("a status row outside the status view: %q\nscreen:\n%s", l, strings.Join(lines, "\n"))
		}
		logs = append(logs, l)
	}
	var want []string
	for i := range 6 {
		want = append(want, "level=WARN msg=first-"+string(rune('a'+i)), "level=ERROR msg=second-"+string(rune('a'+i)))
	}
	want = append(want, "shutting down without a newline")
	if !slices.Equal(logs, want) {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(logs, "\n"), strings.Join(want, "\n"))
	}
	for _, l := range lines {
		if len([]rune(l)) >= w {
			t.Errorf("row of %d columns fills the %d-column terminal: %q", len(l), w, l)
		}
	}
	// After Close, writes go straight through.
	out.Reset()
	c.Write([]byte("after\n"))
	c.SetStatus("ignored")
	if out.String() != "after\n" {
		t.Errorf("after Close: %q", out.String())
	}
}

// TestConsoleCutsATallStatus: a status taller than the terminal is cut so
// that redraws still erase all of it.
func TestConsoleCutsATallStatus(t *testing.T) {
	const w, h = 40, 6
	scr := newScreen(w, h)
	var out bytes.Buffer
	c := console.New(&out, func() (int, int) { return w, h })
	tall := strings.Repeat("status row\n", 10)
	for range 3 {
		c.SetStatus(tall)
		c.Write([]byte("log\n"))
	}
	scr.feed(strings.ReplaceAll(out.String(), "\n", "\r\n"))
	lines := scr.lines()
	if n := strings.Count(strings.Join(lines, "\n"), "status row"); n != h-2 {
		t.Errorf("%d status rows in view, want %d:\n%s", n, h-2, strings.Join(lines, "\n"))
	}
	for _, l := range scr.scrolled {
		if l != "log" {
			t.Errorf("scrolled off: %q", l)
		}
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		width int
		want  []string
	}{
		{"fits", "a  b", 10, []string{"a  b"}},
		{"at field separators", "lag  alpha 1  beta 22  gamma 333", 30,
			[]string{"lag  alpha 1  beta 22", console.Indent + "gamma 333"}},
		{"continuation rows wrap too", "lag  alpha 1  beta 22  gamma 333  delta 4444", 25,
			[]string{"lag  alpha 1  beta 22", console.Indent + "gamma 333", console.Indent + "delta 4444"}},
		{"a separator right at the edge", "abcdefgh  ij", 9, []string{"abcdefgh", "ij"}},
		{"a field longer than the row", "x  " + strings.Repeat("y", 30), 26,
			[]string{"x", console.Indent + strings.Repeat("y", 15), console.Indent + strings.Repeat("y", 15)}},
		{"narrow: no indent", "aaaa bbbb cccc", 6, []string{"aaaa", "bbbb", "cccc"}},
		{"unknown width", "aaaa bbbb", 0, []string{"aaaa bbbb"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := console.Wrap([]string{tt.line}, tt.width)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Wrap(%q, %d) = %q, want %q", tt.line, tt.width, got, tt.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsRoute: every record reaches the file; warnings and errors also
// the console; the rest are summarized, by message, once per interval,
// through handlers derived with With as well.
func TestLogsRoute(t *testing.T) {
	var file, screen syncBuffer
	now := time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	logs := console.NewLogs(console.LogsConfig{
		File:    slog.NewTextHandler(&file, &slog.HandlerOptions{Level: slog.LevelInfo}),
		Console: &screen, Path: "data/turnstile.log", Now: clock,
	})
	log := slog.New(logs.Handler())
	lake := log.With("component", "lake")
	for range 12 {
		lake.Info("file written", "rows", 3)
	}
	for range 5 {
		log.Info("partition assigned")
	}
	log.Info("created topics")
	log.Info("http server")
	log.Debug("not logged at info")
	lake.Warn("flush failed; retrying", "attempt", 1)
	log.Error("relay failed")

	if n := strings.Count(file.String(), "\n"); n != 21 {
		t.Errorf("file has %d lines, want 21:\n%s", n, file.String())
	}
	if strings.Contains(file.String(), "not logged") {
		t.Error("the file took a record below its level")
	}
	got := strings.Split(strings.TrimSpace(screen.String()), "\n")
	if len(got) != 2 || !strings.Contains(got[0], `level=WARN msg="flush failed; retrying" component=lake attempt=1`) ||
		!strings.Contains(got[1], "level=ERROR msg=\"relay failed\"") || !strings.HasPrefix(got[0], "time=") {
		t.Errorf("console:\n%s", screen.String())
	}
	now = now.Add(time.Minute)
	want := "14:06:00  logged 19 lines in 1m0s to data/turnstile.log: 12 file written, 5 partition assigned, 1 created topics, 1 other"
	if s := logs.Summary(); s != want {
		t.Errorf("summary\n%q\nwant\n%q", s, want)
	}
	if s := logs.Summary(); s != "" {
		t.Errorf("second summary %q, want none", s)
	}

	// Run writes the summaries to the console.
	logs = console.NewLogs(console.LogsConfig{File: slog.NewTextHandler(&file, nil), Console: &screen,
		Path: "x.log", Interval: 10 * time.Millisecond})
	screen = syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); logs.Run(ctx) }()
	slog.New(logs.Handler()).Info("file written")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(screen.String(), "logged 1 line in") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(screen.String(), "to x.log: 1 file written\n") {
		t.Errorf("Run wrote %q", screen.String())
	}
}
