package console_test

import (
	"strconv"
	"strings"
)

// screen models a VT100-style terminal of w×h cells, enough to check what
// a Console leaves in view: printable runes with auto-wrap, CR, LF (with
// the tty's usual CR on output), cursor up (CSI n A) and erase to the end
// of the screen (CSI J). Rows scrolled off the top are kept in scrolled.
type screen struct {
	w, h     int
	rows     [][]rune
	x, y     int
	scrolled []string
}

func newScreen(w, h int) *screen {
	s := &screen{w: w, h: h}
	for range h {
		s.rows = append(s.rows, s.blank())
	}
	return s
}

func (s *screen) blank() []rune { return []rune(strings.Repeat(" ", s.w)) }

func (s *screen) lineFeed() {
	s.x = 0
	if s.y < s.h-1 {
		s.y++
		return
	}
	s.scrolled = append(s.scrolled, strings.TrimRight(string(s.rows[0]), " "))
	s.rows = append(s.rows[1:], s.blank())
}

func (s *screen) feed(text string) {
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			s.x = 0
		case r == '\n':
			s.lineFeed()
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && rs[j] >= '0' && rs[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(string(rs[i+2 : j]))
			if j < len(rs) {
				switch rs[j] {
				case 'A':
					s.y = max(0, s.y-max(1, n))
				case 'J':
					for k := s.x; k < s.w; k++ {
						s.rows[s.y][k] = ' '
					}
					for y := s.y + 1; y < s.h; y++ {
						s.rows[y] = s.blank()
					}
				}
			}
			i = j
		default:
			if s.x == s.w {
				s.lineFeed()
			}
			s.rows[s.y][s.x] = r
			s.x++
		}
	}
}

// lines returns the visible rows, trailing blanks trimmed, without the
// blank rows at the bottom.
func (s *screen) lines() []string {
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
