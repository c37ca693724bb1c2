package console

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"
)

// Indent starts the continuation rows of a wrapped status line.
const Indent = "          "

// Console is a terminal with a status view redrawn in place below
// scrolling log text.
type Console struct {
	mu      sync.Mutex
	out     io.Writer
	size    func() (width, height int)
	status  []string // the status view's lines
	drawn   int      // terminal rows the drawn status occupies
	partial []byte   // log text after its last newline
	closed  bool
}

// New returns a Console drawing on out; size reports the terminal's width
// and height (zero or less: unknown, then 80x24 is assumed).
func New(out io.Writer, size func() (width, height int)) *Console {
	return &Console{out: out, size: size}
}

// Terminal reports whether w is a terminal and, if it is, a size function
// for New.
func Terminal(w io.Writer) (size func() (width, height int), ok bool) {
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		return nil, false
	}
	return func() (int, int) {
		w, h, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0, 0
		}
		return w, h
	}, true
}

// Write writes log text above the status view. Complete lines appear at
// once; a line without its newline waits for it (or for Close).
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.out.Write(p)
	}
	c.partial = append(c.partial, p...)
	i := bytes.LastIndexByte(c.partial, '\n')
	if i < 0 {
		return len(p), nil
	}
	lines := c.partial[:i+1]
	var b bytes.Buffer
	c.erase(&b)
	b.Write(lines)
	c.draw(&b)
	c.partial = append(c.partial[:0], c.partial[i+1:]...)
	if _, err := c.out.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// SetStatus replaces the status view with block (lines separated by
// newlines) and redraws it.
func (c *Console) SetStatus(block string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.status = strings.Split(strings.TrimRight(block, "\n"), "\n")
	var b bytes.Buffer
	c.erase(&b)
	c.draw(&b)
	_, _ = c.out.Write(b.Bytes())
}

// Close writes a pending partial line and leaves the last status on the
// screen, with the cursor below it.
func (c *Console) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if len(c.partial) == 0 {
		return nil
	}
	var b bytes.Buffer
	c.erase(&b)
	b.Write(c.partial)
	b.WriteByte('\n')
	c.partial = nil
	c.draw(&b)
	_, err := c.out.Write(b.Bytes())
	return err
}

// erase moves the cursor to the status view's first row and clears from
// there to the end of the screen. The cursor is at the start of the row
// below the view.
func (c *Console) erase(b *bytes.Buffer) {
	if c.drawn == 0 {
		return
	}
	b.WriteString("\r\x1b[" + strconv.Itoa(c.drawn) + "A\x1b[J")
	c.drawn = 0
}

// draw writes the status view, wrapped to the terminal, each row ended by
// a newline.
func (c *Console) draw(b *bytes.Buffer) {
	if len(c.status) == 0 {
		return
	}
	width, height := 0, 0
	if c.size != nil {
		width, height = c.size()
	}
	if width <= 0 || height <= 0 {
		width, height = 80, 24
	}
	rows := Wrap(c.status, width)
	// Keep a row for the cursor, and one log line in sight.
	if limit := max(1, height-2); len(rows) > limit {
		rows = rows[:limit]
	}
	for _, r := range rows {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	c.drawn = len(rows)
}

// Wrap breaks lines into rows shorter than width (the last column stays
// empty, so no terminal wraps them again), at runs of two spaces (the
// status view's field separators) where it can, continuation rows
// indented by Indent.
func Wrap(lines []string, width int) []string {
	limit := width - 1
	if limit < 1 {
		return append([]string(nil), lines...)
	}
	indent := Indent
	if limit <= 2*len(indent) {
		indent = ""
	}
	var rows []string
	for _, line := range lines {
		line = strings.TrimRight(line, " ")
		prefix := ""
		for {
			if utf8.RuneCountInString(prefix+line) <= limit {
				rows = append(rows, prefix+line)
				break
			}
			cut := breakAt(line, limit-utf8.RuneCountInString(prefix))
			rows = append(rows, prefix+strings.TrimRight(line[:cut], " "))
			line = strings.TrimLeft(line[cut:], " ")
			if line == "" {
				break
			}
			prefix = indent
		}
	}
	return rows
}

// breakAt returns the byte offset at which to end a row of at most room
// runes of s: the last field separator (two spaces) within room, else the
// last space, else room runes.
func breakAt(s string, room int) int {
	end := len(s)
	n := 0
	for i := range s {
		if n == room {
			end = i
			break
		}
		n++
	}
	// A separator may start right at end: the row then ends there.
	if i := strings.LastIndex(s[:min(end+2, len(s))], "  "); i > 0 {
		return i
	}
	if i := strings.LastIndexByte(s[:min(end+1, len(s))], ' '); i > 0 {
		return i
	}
	return end
}
