//go:build linux

package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestStartLive: the terminal view starts only when stdout and stderr are
// both a terminal and the status is on; then the logger writes every record
// to the log file and only warnings to the terminal. Otherwise the logs
// stay structured on stderr, as they were.
func TestStartLive(t *testing.T) {
	tty, ptmx := testenv.PTY(t, 120, 30)
	go func() { _, _ = io.Copy(io.Discard, ptmx) }() // the emulator's side
	pipeR, pipeW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pipeR.Close()
	defer pipeW.Close()
	go func() { _, _ = io.Copy(io.Discard, pipeR) }()
	tests := []struct {
		name           string
		stdout, stderr io.Writer
		quiet          bool
		want           bool
	}{
		{"terminal", tty, tty, false, true},
		{"terminal, --quiet", tty, tty, true, false},
		{"stdout piped", pipeW, tty, false, false},
		{"stderr to a file", tty, pipeW, false, false},
		{"buffers", &bytes.Buffer{}, &bytes.Buffer{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{stdout: tt.stdout, stderr: tt.stderr, logLevel: "info", logFormat: "text"}
			if err := a.setupLogger(); err != nil {
				t.Fatal(err)
			}
			before, beforeOut := a.log, a.stdout
			dir := t.TempDir()
			out, err := a.startLive(httpFlags{quiet: tt.quiet, logSummary: time.Minute}, dir)
			if err != nil {
				t.Fatal(err)
			}
			a.log.Info("file written", "file", "x.parquet")
			a.log.Warn("flush failed; retrying")
			out.close()
			logged, _ := os.ReadFile(filepath.Join(dir, "turnstile.log"))
			if !tt.want {
				if out.show() != nil || a.log != before || a.stdout != beforeOut || logged != nil {
					t.Fatalf("a terminal view without a terminal (log file %q)", logged)
				}
				return
			}
			if out.show() == nil || a.log == before {
				t.Fatal("no terminal view on a terminal")
			}
			if !strings.Contains(string(logged), `level=INFO msg="file written" file=x.parquet`) ||
				!strings.Contains(string(logged), `level=WARN msg="flush failed; retrying"`) {
				t.Errorf("log file:\n%s", logged)
			}
		})
	}
}
