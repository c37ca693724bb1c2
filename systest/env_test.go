package systest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/turnstile-streams/turnstile/internal/testenv"
)

// logCapture is a slog handler that keeps every record at or above warning
// level (message and attributes flattened to one line) and passes records
// on to the test's logger, so a test can assert what the pipeline logged:
// supervisor restarts, registry waits, secrets that must not appear.
type logCapture struct {
	next  slog.Handler
	attrs []slog.Attr
	mu    *sync.Mutex
	lines *[]string
}

func newLogCapture(t *testing.T) (*slog.Logger, *logCapture) {
	c := &logCapture{next: testenv.Logger(t).Handler(), mu: &sync.Mutex{}, lines: new([]string)}
	return slog.New(c), c
}

func (c *logCapture) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || c.next.Enabled(ctx, l)
}

func (c *logCapture) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
		for _, a := range c.attrs {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
		c.mu.Lock()
		*c.lines = append(*c.lines, b.String())
		c.mu.Unlock()
	}
	if c.next.Enabled(ctx, r.Level) {
		return c.next.Handle(ctx, r)
	}
	return nil
}

func (c *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	n := *c
	n.next = c.next.WithAttrs(as)
	n.attrs = append(append([]slog.Attr(nil), c.attrs...), as...)
	return &n
}

func (c *logCapture) WithGroup(name string) slog.Handler {
	n := *c
	n.next = c.next.WithGroup(name)
	return &n
}

// matching returns the captured lines containing every one of subs.
func (c *logCapture) matching(subs ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
next:
	for _, l := range *c.lines {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}
