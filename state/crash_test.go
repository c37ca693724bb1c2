package state_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/state"
)

// helperEnv selects a helper mode when the test binary re-executes itself
// (see TestHelperProcess).
const helperEnv = "STATE_TEST_HELPER"

// helpers are the modes a child process can run. Each prints progress lines
// to stdout and runs until killed.
var helpers = map[string]func(t *testing.T){
	"store-writer": storeWriterHelper,
}

// TestHelperProcess is not a test: it runs a helper mode in a child process
// started by startHelper, and is skipped otherwise.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("runs only as a child process")
	}
	h, ok := helpers[mode]
	if !ok {
		t.Fatalf("unknown helper mode %q", mode)
	}
	h(t)
}

// child is a helper process the test can read progress from and kill.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startHelper(t *testing.T, mode string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // the test stopped reading; drop
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	return c
}

// waitFor reads progress lines "<prefix> <n>" until n >= min and returns n.
func (c *child) waitFor(t *testing.T, prefix string, min int64, timeout time.Duration) int64 {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				t.Fatalf("helper exited before reporting %s >= %d", prefix, min)
			}
			rest, found := strings.CutPrefix(line, prefix+" ")
			if !found {
				continue
			}
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				t.Fatalf("bad progress line %q", line)
			}
			if n >= min {
				return n
			}
		case <-deadline:
			t.Fatalf("helper did not report %s >= %d within %s", prefix, min, timeout)
		}
	}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := c.cmd.Wait()
	if ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", err)
	}
}

const crashKeys = 1000

// storeWriterHelper writes record i as key i%crashKeys = i followed by
// SetOffset(i), like goka applying a changelog, forever. With
// STATE_RECOVERED=1 it first calls MarkRecovered (the running write path),
// otherwise it stays in recovery (the batched path).
func storeWriterHelper(t *testing.T) {
	st := openStore(t, state.Options{Dir: os.Getenv("STATE_DIR"), RecoveryBatchSize: 64 << 10}, "table", 0)
	if os.Getenv("STATE_RECOVERED") == "1" {
		if err := st.MarkRecovered(); err != nil {
			t.Fatal(err)
		}
	}
	start, err := st.GetOffset(-1)
	if err != nil {
		t.Fatal(err)
	}
	for i := start + 1; ; i++ {
		if err := st.Set(fmt.Sprintf("k%04d", i%crashKeys), []byte(strconv.FormatInt(i, 10))); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOffset(i); err != nil {
			t.Fatal(err)
		}
		if i%5000 == 0 {
			fmt.Printf("written %d\n", i)
		}
	}
}

// TestKilledWriterNeverLeavesOffsetAheadOfData kills a process writing to a
// store (in both write paths) and checks the invariant crash recovery rests
// on: every record up to the stored offset is in the store. Values may be
// newer than the offset (goka replays over them), never older.
func TestKilledWriterNeverLeavesOffsetAheadOfData(t *testing.T) {
	for _, recovered := range []bool{false, true} {
		t.Run(fmt.Sprintf("recovered=%v", recovered), func(t *testing.T) {
			dir := t.TempDir()
			flag := "0"
			if recovered {
				flag = "1"
			}
			var lastOffset int64 = -1
			for round := 0; round < 3; round++ {
				c := startHelper(t, "store-writer", "STATE_DIR="+dir, "STATE_RECOVERED="+flag)
				// Enough writes for several recovery commits (a batch takes in up
				// to 8 x RecoveryBatchSize of overwrites before it commits).
				reached := c.waitFor(t, "written", lastOffset+200000, 60*time.Second)
				c.kill(t)

				st := openStore(t, state.Options{Dir: dir, Logger: testLogger(t)}, "table", 0) // after the SIGKILL
				if recovered {
					// A store killed while processing may hold writes the
					// changelog never acknowledged: it must be rebuilt,
					// never trusted.
					if r := st.Stats().Rebuilt; !strings.Contains(r, "not closed cleanly") {
						t.Fatalf("store killed while processing was not rebuilt (reason %q)", r)
					}
					if off := offsetOf(t, st); off != -3 { // the default: no offset stored
						t.Fatalf("rebuilt store still has offset %d", off)
					}
					if err := st.Close(); err != nil {
						t.Fatal(err)
					}
					continue
				}
				off := offsetOf(t, st)
				if off < lastOffset {
					t.Fatalf("stored offset went back from %d to %d", lastOffset, off)
				}
				if off < 0 {
					t.Fatalf("no offset stored after writing past %d", reached)
				}
				for k := int64(0); k < crashKeys; k++ {
					// the last record <= off that wrote key k
					want := off - ((off-k)%crashKeys+crashKeys)%crashKeys
					if want < 0 {
						continue
					}
					v, err := st.Get(fmt.Sprintf("k%04d", k))
					if err != nil {
						t.Fatal(err)
					}
					got, err := strconv.ParseInt(string(v), 10, 64)
					if err != nil {
						t.Fatalf("key %d: value %q (offset %d)", k, v, off)
					}
					if got < want || got%crashKeys != k {
						t.Fatalf("key %d holds record %d but the stored offset %d covers record %d", k, got, off, want)
					}
				}
				t.Logf("round %d: killed after %d records, stored offset %d", round, reached, off)
				lastOffset = off
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestRecoveryWritesAreBatched checks that recovery commits per batch, not
// per record, and that MarkRecovered switches to direct writes.
func TestRecoveryWritesAreBatched(t *testing.T) {
	st := openStore(t, state.Options{Dir: t.TempDir(), RecoveryBatchSize: 256 << 10, Logger: testLogger(t)}, "table", 0)
	defer st.Close()
	val := make([]byte, 100)
	const n = 20000 // ~2.3 MB of records
	for i := 0; i < n; i++ {
		if err := st.Set(fmt.Sprintf("k%06d", i), val); err != nil {
			t.Fatal(err)
		}
		if err := st.SetOffset(int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	s := st.Stats()
	if s.RecoveryWrites != n || s.RecoveryCommits < 5 || s.RecoveryCommits > 15 {
		t.Fatalf("recovery: %d writes in %d commits, want %d in about 9", s.RecoveryWrites, s.RecoveryCommits, n)
	}
	if err := st.MarkRecovered(); err != nil {
		t.Fatal(err)
	}
	if err := st.Set("after", val); err != nil {
		t.Fatal(err)
	}
	s = st.Stats()
	if !s.Recovered || s.Writes != 1 || s.Offset != n-1 || s.DiskBytes == 0 {
		t.Fatalf("after recovery: %+v", s)
	}
}
