package dashboard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// layout numbers the partitions of the tailed topics: partition p of
// topics[t] has the global index base[t]+p. Positions are vectors over the
// global indexes.
type layout struct {
	topics []string
	counts []int32
	base   []int
	n      int
}

func newLayout(topics []string, counts []int32) *layout {
	l := &layout{topics: topics, counts: counts, base: make([]int, len(topics))}
	for i, c := range counts {
		l.base[i] = l.n
		l.n += int(c)
	}
	return l
}

// index returns the global index of a topic's partition.
func (l *layout) index(topic string, part int32) (int, bool) {
	for i, t := range l.topics {
		if t == topic {
			if part < 0 || part >= l.counts[i] {
				return 0, false
			}
			return l.base[i] + int(part), true
		}
	}
	return 0, false
}

// formatID renders an event id: the event's topic:partition:offset, then
// the position vector, one topic=o0,o1,... segment per topic.
func (l *layout) formatID(topic string, part int32, offset int64, pos []int64) string {
	var b strings.Builder
	b.Grow(len(topic) + 24 + l.n*6)
	b.WriteString(topic)
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(int64(part), 10))
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(offset, 10))
	for t, name := range l.topics {
		b.WriteByte(';')
		b.WriteString(name)
		b.WriteByte('=')
		for p := 0; p < int(l.counts[t]); p++ {
			if p > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(pos[l.base[t]+p], 10))
		}
	}
	return b.String()
}

// errNoVector says a Last-Event-ID carries no position vector.
var errNoVector = errors.New("dashboard: the event id has no position vector (send back the whole id of the last event received)")

// parseID reads the position vector of an event id made by formatID. known
// says which global indexes the id gave a position for; segments naming
// topics or partitions this layout does not have are ignored (the config
// changed). The leading topic:partition:offset segment is informational.
func (l *layout) parseID(id string) (pos []int64, known []bool, err error) {
	pos, known = make([]int64, l.n), make([]bool, l.n)
	segs := strings.Split(strings.TrimSpace(id), ";")
	vectors := 0
	for i, seg := range segs {
		name, list, ok := strings.Cut(seg, "=")
		if !ok {
			if i == 0 {
				continue // the event's own topic:partition:offset
			}
			return nil, nil, fmt.Errorf("dashboard: event id segment %q is not topic=offsets", seg)
		}
		vectors++
		t := -1
		for j, n := range l.topics {
			if n == name {
				t = j
			}
		}
		for p, s := range strings.Split(list, ",") {
			o, err := strconv.ParseInt(s, 10, 64)
			if err != nil || o < 0 {
				return nil, nil, fmt.Errorf("dashboard: event id offset %q of %s partition %d: not a non-negative integer", s, name, p)
			}
			if t < 0 || p >= int(l.counts[t]) {
				continue
			}
			pos[l.base[t]+p], known[l.base[t]+p] = o, true
		}
	}
	if vectors == 0 {
		return nil, nil, errNoVector
	}
	return pos, known, nil
}

// dominated says whether a <= b in every component.
func dominated(a, b []int64) bool {
	for i := range a {
		if a[i] > b[i] {
			return false
		}
	}
	return true
}
