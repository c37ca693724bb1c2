package gokalog

import (
	"fmt"
	"log/slog"

	"github.com/lovoo/goka"
)

// Logger sends goka's lines to an slog.Logger at debug level (goka logs
// routine events: rebalances, recoveries, partition states), with the
// attribute component=<component>.
type Logger struct {
	l         *slog.Logger
	component string
}

var _ goka.Logger = Logger{}

// New returns a Logger writing to l (nil: discarded) as component.
func New(l *slog.Logger, component string) Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return Logger{l: l, component: component}
}

// Print logs its operands as fmt.Sprint formats them.
func (g Logger) Print(v ...any) { g.l.Debug(fmt.Sprint(v...), "component", g.component) }

// Println logs its operands as fmt.Sprint formats them (no newline: slog
// ends the record).
func (g Logger) Println(v ...any) { g.l.Debug(fmt.Sprint(v...), "component", g.component) }

// Printf logs as fmt.Sprintf formats.
func (g Logger) Printf(format string, v ...any) {
	g.l.Debug(fmt.Sprintf(format, v...), "component", g.component)
}
