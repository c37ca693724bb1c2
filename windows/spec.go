package windows

import (
	"fmt"
	"time"
)

// Spec describes the event-time windows, aligned to the Unix epoch
// like Spark's window(): a time t belongs to every window [start,
// start+Size) with start a multiple of Slide. Slide == Size gives tumbling windows. Times are Unix
// milliseconds.
type Spec struct {
	Size  int64
	Slide int64
}

// NewSpec validates a window length and slide (slide 0 = tumbling).
func NewSpec(size, slide time.Duration) (Spec, error) {
	if slide == 0 {
		slide = size
	}
	w := Spec{Size: size.Milliseconds(), Slide: slide.Milliseconds()}
	switch {
	case w.Size <= 0:
		return w, fmt.Errorf("windows: window must be positive, got %v", size)
	case w.Slide <= 0 || w.Slide > w.Size:
		return w, fmt.Errorf("windows: slide must be in (0, window], got %v", slide)
	}
	return w, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// Earliest is the start of the earliest window containing t.
func (w Spec) Earliest(t int64) int64 {
	// smallest multiple of Slide strictly greater than t-Size
	return (floorDiv(t-w.Size, w.Slide) + 1) * w.Slide
}

// End is the end of the window starting at start.
func (w Spec) End(start int64) int64 { return start + w.Size }

// Of calls fn with the start of every window containing t, earliest first.
func (w Spec) Of(t int64, fn func(start int64)) {
	for s := w.Earliest(t); s <= t; s += w.Slide {
		fn(s)
	}
}
