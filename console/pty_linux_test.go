//go:build linux

package console_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/console"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestConsoleOnAPseudoTerminal: Terminal recognizes a real pseudo-terminal
// (and its size) and nothing else; a Console drawing on it, read from the
// other side as an emulator would, leaves one status view below the logs.
func TestConsoleOnAPseudoTerminal(t *testing.T) {
	const w, h = 72, 10
	tty, ptmx := testenv.PTY(t, w, h)
	size, ok := console.Terminal(tty)
	if !ok {
		t.Fatal("a pseudo-terminal is not a terminal")
	}
	if gw, gh := size(); gw != w || gh != h {
		t.Fatalf("size %dx%d, want %dx%d", gw, gh, w, h)
	}
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pw.Close()
	plain, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for _, notTTY := range []io.Writer{pw, plain, &syncBuffer{}} {
		if _, ok := console.Terminal(notTTY); ok {
			t.Errorf("%T is a terminal", notTTY)
		}
	}

	read := make(chan string)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			b.Write(buf[:n])
			if err != nil || strings.Contains(b.String(), "the end\r\n") {
				read <- b.String()
				return
			}
		}
	}()
	c := console.New(tty, size)
	for i := range 5 {
		c.SetStatus(fmt.Sprintf("12:00:0%d  in/s  ingest %d  windows 301  stations 60   out/s  readings 301  device windows 60\n          lag  turnstile-ingest 62", i, i))
		fmt.Fprintf(c, "level=WARN msg=%d\n", i)
	}
	c.Close()
	tty.Write([]byte("the end\n"))
	var out string
	select {
	case out = <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing read from the pseudo-terminal")
	}
	scr := newScreen(w, h)
	scr.feed(out) // the tty turned each \n into \r\n
	lines := scr.lines()
	if n := strings.Count(strings.Join(append(scr.scrolled, lines...), "\n"), "in/s"); n != 1 {
		t.Errorf("%d status views on the screen, want 1:\n%s", n, strings.Join(lines, "\n"))
	}
	if !strings.HasPrefix(lines[len(lines)-4], "12:00:04  in/s  ingest 4") || lines[len(lines)-1] != "the end" {
		t.Errorf("screen:\n%s", strings.Join(lines, "\n"))
	}
}
