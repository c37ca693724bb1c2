// Package console is a terminal split in two: a status view at the bottom,
// redrawn in place, and log lines scrolling above it. turnstile dev and
// turnstile process use it when their output is a terminal, so the status
// stays in view while warnings and errors appear above it; routine records
// go to a log file instead, and a periodic one-line summary says how many
// there were (Logs).
//
// A Console draws with three ANSI sequences every terminal emulator knows
// (cursor up, erase to the end of the screen, carriage return). It wraps
// the status lines itself, at field boundaries, to the terminal's width at
// each redraw, so it always knows how many rows to erase; a status taller
// than the terminal is cut to fit.
//
// # Concurrency
//
// A Console is safe for concurrent use: Write (log text, from any
// goroutine, for instance through a slog handler) and SetStatus serialize
// on one mutex, and each call reaches the terminal in a single write. Close
// is called once, after the last SetStatus; later writes go straight to
// the terminal and SetStatus does nothing.
//
// Logs' handler (Logs.Handler and the handlers derived from it) is safe for
// concurrent use; Logs.Run is called once and returns when its context
// ends.
package console
