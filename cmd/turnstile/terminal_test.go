package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
)

// tmuxTerm is a tmux server of the test's own (its own socket) running one
// program in a terminal of a fixed size.
type tmuxTerm struct {
	t    *testing.T
	sock string
}

func startTmux(t *testing.T, width, height int, command string) *tmuxTerm {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("no tmux (apt-get install tmux): the terminal test needs a real terminal emulator")
	}
	tm := &tmuxTerm{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	tm.run("-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmuxTerm) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.sock}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// screen is what the terminal shows now, one string per row.
func (tm *tmuxTerm) screen() []string {
	return strings.Split(strings.TrimRight(tm.run("capture-pane", "-p", "-t", "t"), "\n"), "\n")
}

// statusFirstRow matches the status view's first row.
var statusFirstRow = regexp.MustCompile(`^\d\d:\d\d:\d\d  in/s  `)

// TestDevOnATerminal, in a real terminal (tmux): turnstile dev keeps one
// status view, redrawn in place, with the lake files in it; routine records
// (each lake file, each partition assignment) go to the log file, with a
// one-line summary instead; warnings appear above the status; Ctrl-C leaves
// the last status on the screen.
func TestDevOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole pipeline in a terminal")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kafkaAddr, regAddr, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	logFile := filepath.Join(dir, "data", "turnstile.log")
	command := fmt.Sprintf("env %s=1 %s dev --data-dir %s --lake-dir %s --brokers %s --registry-url http://%s --http-addr %s "+
		"--partitions 2 --status-interval 1s --lake-flush-interval 1s --log-summary-interval 3s; echo EXITED $?; sleep 120",
		runMainEnv, exe, filepath.Join(dir, "data"), filepath.Join(dir, "lake"), kafkaAddr, regAddr, httpAddr)
	tm := startTmux(t, 170, 50, command)

	// check asserts what must hold on every screen and returns the status
	// view's first row (-1: none yet).
	check := func(rows []string) int {
		t.Helper()
		first := -1
		for i, r := range rows {
			if statusFirstRow.MatchString(r) {
				if first >= 0 {
					t.Fatalf("two status views on the screen (rows %d and %d):\n%s", first, i, strings.Join(rows, "\n"))
				}
				first = i
			}
			if strings.Contains(r, "level=INFO") {
				t.Fatalf("an INFO record on the terminal (row %d):\n%s", i, strings.Join(rows, "\n"))
			}
		}
		return first
	}
	waitFor := func(what string, timeout time.Duration, ok func(rows []string, first int) bool) []string {
		t.Helper()
		deadline := time.Now().Add(timeout)
		seen := map[string]bool{}
		for {
			rows := tm.screen()
			first := check(rows)
			if first >= 0 {
				seen[rows[first][:8]] = true
			}
			if ok(rows, first) {
				return rows
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s after %v:\n%s", what, timeout, strings.Join(rows, "\n"))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	lakeFiles := regexp.MustCompile(`lake files [1-9]`)
	redraws := map[string]bool{}
	rows := waitFor("lake files and a log summary", 120*time.Second, func(rows []string, first int) bool {
		if first < 0 {
			return false
		}
		redraws[rows[first][:8]] = true
		view := strings.Join(rows[first:], "\n")
		above := strings.Join(rows[:first], "\n")
		return lakeFiles.MatchString(view) && strings.Contains(view, "watermark") && len(redraws) >= 3 &&
			strings.Contains(above, "file written") && strings.Contains(above, "logged ")
	})
	// The status shows every figure: rates, lag, watermark, windows,
	// dead-lettered, too late, lake files.
	first := check(rows)
	view := strings.Join(rows[first:], " ")
	for _, want := range []string{"in/s", "out/s", "lag", "watermark", "windows  device", "dead-lettered", "too late", "lake files"} {
		if !strings.Contains(view, want) {
			t.Errorf("status view lacks %q:\n%s", want, strings.Join(rows[first:], "\n"))
		}
	}
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`level=INFO msg="file written"`, `level=INFO msg="partition assigned"`, `msg="processors running"`} {
		if !strings.Contains(string(logged), want) {
			t.Errorf("%s lacks %s", logFile, want)
		}
	}

	// A sink topic disappears: the relay fails and restarts (errors) and
	// the lake-writer warns, above the status.
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := kadm.NewClient(cl).DeleteTopic(ctx, schemas.DefaultDeviceWindowsTopic); err != nil || resp.Err != nil {
		t.Fatalf("delete %s: %v %v", schemas.DefaultDeviceWindowsTopic, err, resp.Err)
	}
	waitFor("error above the status", 60*time.Second, func(rows []string, first int) bool {
		for i, r := range rows {
			if strings.Contains(r, "level=WARN") || strings.Contains(r, "level=ERROR") {
				return first > i
			}
		}
		return false
	})

	tm.run("send-keys", "-t", "t", "C-c")
	rows = waitFor("exit", 60*time.Second, func(rows []string, _ int) bool {
		return strings.Contains(strings.Join(rows, "\n"), "EXITED")
	})
	all := strings.Join(rows, "\n")
	if first := check(rows); first < 0 || !strings.Contains(all, "turnstile dev: shutting down") || !strings.Contains(all, "logs: "+logFile) {
		t.Errorf("after Ctrl-C:\n%s", all)
	}
	t.Logf("the terminal after Ctrl-C (%d redraws seen):\n%s", len(redraws), all)
}
