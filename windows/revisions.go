package windows

import "sort"

// Revision records the latest revision published for a window.
type Revision struct {
	Start int64
	Rev   int32
}

// Revisions is a key's revision bookkeeping, written once for devices and
// stations: per retained window that was published, its latest revision,
// sorted by Start. Revisions count from 1; 0 means never published.
type Revisions []Revision

func (rs Revisions) index(start int64) (int, bool) {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Start >= start })
	return i, i < len(rs) && rs[i].Start == start
}

// Rev is the latest revision published for window start (0: none).
func (rs Revisions) Rev(start int64) int32 {
	if i, ok := rs.index(start); ok {
		return rs[i].Rev
	}
	return 0
}

// next records a new revision of window start and returns its number.
func (rs *Revisions) next(start int64) int32 {
	i, ok := rs.index(start)
	if !ok {
		*rs = append(*rs, Revision{})
		copy((*rs)[i+1:], (*rs)[i:])
		(*rs)[i] = Revision{Start: start}
	}
	(*rs)[i].Rev++
	return (*rs)[i].Rev
}

// atLeast records that window start has at least revision rev.
func (rs *Revisions) atLeast(start int64, rev int32) {
	for rs.Rev(start) < rev {
		rs.next(start)
	}
}

// set records rev as the latest revision of window start.
func (rs *Revisions) set(start int64, rev int32) {
	if rs.Rev(start) == 0 {
		rs.next(start)
	}
	i, _ := rs.index(start)
	(*rs)[i].Rev = rev
}

// pruneBefore forgets the windows that start before from.
func (rs *Revisions) pruneBefore(from int64) {
	if j, _ := rs.index(from); j > 0 {
		*rs = append((*rs)[:0], (*rs)[j:]...)
	}
}
