package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// LogsConfig configures Logs.
type LogsConfig struct {
	// File takes every record the process logs (its level decides which):
	// the log file.
	File slog.Handler
	// Console receives records at or above ConsoleLevel, as text, and the
	// summaries: a *Console, so they appear above the status view.
	Console io.Writer
	// ConsoleLevel defaults to slog.LevelWarn.
	ConsoleLevel slog.Level
	// Path names the log file in the summaries.
	Path string
	// Interval between summaries (default one minute).
	Interval time.Duration
	// Now is the clock of the summaries (default time.Now).
	Now func() time.Time
}

// Defaults fills zero fields (Interval also when negative).
func (c *LogsConfig) Defaults() {
	if c.ConsoleLevel == 0 {
		c.ConsoleLevel = slog.LevelWarn
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Logs routes a terminal process's log records: every record the File
// handler takes goes to the file; warnings and errors also go to the
// console; the others are only counted, by message, and Run writes a
// one-line summary of them every Interval.
type Logs struct {
	cfg    LogsConfig
	screen slog.Handler

	mu     sync.Mutex
	counts map[string]int
	since  time.Time
}

// NewLogs returns the router of cfg.
func NewLogs(cfg LogsConfig) *Logs {
	cfg.Defaults()
	screen := slog.NewTextHandler(cfg.Console, &slog.HandlerOptions{Level: cfg.ConsoleLevel,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			// The time of day is enough on a terminal.
			if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
				return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
			}
			return a
		}})
	return &Logs{cfg: cfg, screen: screen, counts: map[string]int{}, since: cfg.Now()}
}

// Handler is the slog handler routing records as Logs says.
func (l *Logs) Handler() slog.Handler { return &handler{file: l.cfg.File, screen: l.screen, logs: l} }

// Run writes a summary every Interval until ctx ends, and a last one then.
func (l *Logs) Run(ctx context.Context) {
	tk := time.NewTicker(l.cfg.Interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			l.flush()
			return
		case <-tk.C:
			l.flush()
		}
	}
}

func (l *Logs) flush() {
	if s := l.Summary(); s != "" {
		_, _ = io.WriteString(l.cfg.Console, s+"\n")
	}
}

// Summary returns the line summarizing the records counted since the last
// call ("" when there were none) and starts counting again:
//
//	14:05:00  logged 27 lines in 1m0s to data/turnstile.log: 12 file written, 12 partition assigned, 3 other
func (l *Logs) Summary() string {
	now := l.cfg.Now()
	l.mu.Lock()
	counts, since := l.counts, l.since
	l.counts, l.since = map[string]int{}, now
	l.mu.Unlock()
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		return ""
	}
	msgs := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	var parts []string
	shown := 0
	for _, m := range msgs[:min(3, len(msgs))] {
		parts = append(parts, fmt.Sprintf("%d %s", counts[m], m))
		shown += counts[m]
	}
	if rest := total - shown; rest > 0 {
		parts = append(parts, fmt.Sprintf("%d other", rest))
	}
	noun := "lines"
	if total == 1 {
		noun = "line"
	}
	return fmt.Sprintf("%s  logged %d %s in %s to %s: %s", now.Format("15:04:05"), total, noun,
		now.Sub(since).Round(time.Second), l.cfg.Path, strings.Join(parts, ", "))
}

func (l *Logs) count(msg string) {
	l.mu.Lock()
	l.counts[msg]++
	l.mu.Unlock()
}

// handler sends a record to the file handler and, at the console level,
// to the screen; the records only the file gets are counted.
type handler struct {
	file, screen slog.Handler
	logs         *Logs
}

func (h *handler) Enabled(ctx context.Context, lvl slog.Level) bool {
	return h.file.Enabled(ctx, lvl) || h.screen.Enabled(ctx, lvl)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var fileErr, screenErr error
	toFile := h.file.Enabled(ctx, r.Level)
	if toFile {
		fileErr = h.file.Handle(ctx, r.Clone())
	}
	if h.screen.Enabled(ctx, r.Level) {
		screenErr = h.screen.Handle(ctx, r)
	} else if toFile {
		h.logs.count(r.Message)
	}
	return errors.Join(fileErr, screenErr)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{file: h.file.WithAttrs(attrs), screen: h.screen.WithAttrs(attrs), logs: h.logs}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{file: h.file.WithGroup(name), screen: h.screen.WithGroup(name), logs: h.logs}
}
