package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/turnstile-streams/turnstile/console"
)

// liveOutput is where dev and process show their status: on a terminal,
// a status view redrawn in place with warnings and errors above it, and
// the logs in a file; elsewhere, status blocks and structured logs as
// they come.
type liveOutput struct {
	con    *console.Console // nil when not on a terminal
	stdout io.Writer        // the real stdout, for the last word
	file   *os.File
	path   string
	stop   context.CancelFunc
	done   chan struct{}
}

// startLive sets up the terminal view when the status is on (not --quiet)
// and stdout and stderr are both a terminal: from then on a.log writes
// every record to the log file (warnings and errors also above the
// status) and a.stdout writes above the status. Otherwise it changes
// nothing. close undoes it.
func (a *app) startLive(h httpFlags, dataDir string) (*liveOutput, error) {
	out := &liveOutput{stdout: a.stdout}
	if h.quiet {
		return out, nil
	}
	size, outTTY := console.Terminal(a.stdout)
	if _, errTTY := console.Terminal(a.stderr); !outTTY || !errTTY {
		return out, nil
	}
	out.path = h.logFile
	if out.path == "" {
		out.path = filepath.Join(dataDir, "turnstile.log")
	}
	if err := os.MkdirAll(filepath.Dir(out.path), 0o755); err != nil {
		return nil, fmt.Errorf("--log-file: %w", err)
	}
	f, err := os.OpenFile(out.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--log-file: %w", err)
	}
	fileHandler, err := a.logHandler(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	out.file, out.con = f, console.New(a.stdout, size)
	logs := console.NewLogs(console.LogsConfig{File: fileHandler, Console: out.con, Path: out.path, Interval: h.logSummary})
	fmt.Fprintf(out.con, "logs: %s (warnings and errors also here; a line every %v counts the rest)\n", out.path, h.logSummary)
	a.log, a.stdout = slog.New(logs.Handler()), out.con
	ctx, stop := context.WithCancel(context.Background())
	out.stop, out.done = stop, make(chan struct{})
	go func() { defer close(out.done); logs.Run(ctx) }()
	return out, nil
}

// show is the status view for status.Live (nil: print the blocks).
func (o *liveOutput) show() func(string) {
	if o.con == nil {
		return nil
	}
	return o.con.SetStatus
}

// close writes the last summary, leaves the last status on the screen and
// closes the log file. The app's logger and stdout stay pointed at them:
// call it last.
func (o *liveOutput) close() {
	if o.con == nil {
		return
	}
	o.stop()
	<-o.done
	_ = o.con.Close()
	_ = o.file.Close()
	fmt.Fprintf(o.stdout, "logs: %s\n", o.path)
}
