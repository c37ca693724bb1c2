package watermark

// Align is watermark alignment for a source whose receiver it can see (a
// partition read in place feeds its own receiver): while the source runs
// more than Drift of event time ahead of the receiver's watermark, and the
// source holding that watermark back still has input to read, the source
// pauses so that the slower ones catch up. It is Flink's
// withWatermarkAlignment with the group's minimum being the receiver's
// merge, and Kafka Streams' timestamp-ordered picking across a task's
// partitions.
//
// Why it pays: a receiver keeps every reading above its watermark (nothing
// there can be closed), so a partition that runs ahead of the slowest one
// during a backlog grows its devices' state and rewrites it with every
// reading; a paused partition costs nothing while the others catch up.
//
// Both sides of the comparison are marks as the receiver heard them: the
// source's own mark and the merge's minimum come through the same channel
// with the same delay, so the source that holds the minimum has no lead and
// is never paused, whatever the marks' latency.
//
// The zero Align never pauses. An Align belongs to the goroutine of its
// receiver.
type Align struct {
	// Drift is how far (ms of event time) the source's mark may run ahead
	// of the receiver's watermark before the source pauses; it resumes at
	// half of it. Zero or less: never pause.
	Drift  int64
	paused bool
}

// Update decides from the receiver's merge m and its progress p (the gate
// applied) whether source own should be paused: it returns the new state
// and whether it changed. holderLagging says whether the source holding
// the watermark back (p.Holder) has unconsumed input: a source that is
// caught up but not yet idle is waiting for data, and pausing the others
// would not bring its time forward (its idle timeout does).
func (a *Align) Update(own int32, m *Merge, p Progress, holderLagging bool) (paused, changed bool) {
	lead, ok := int64(0), false
	if mk, heard := m.Sources[own]; heard && mk.Has && !mk.Idle && p.Has && !p.AllIdle && p.Holder != own && holderLagging {
		lead, ok = mk.Time-p.Time, true
	}
	next := a.paused
	switch {
	case a.Drift <= 0 || !ok:
		next = false
	case lead > a.Drift:
		next = true
	case lead <= a.Drift/2:
		next = false
	}
	changed = next != a.paused
	a.paused = next
	return next, changed
}

// Paused says whether the source was last told to pause.
func (a *Align) Paused() bool { return a.paused }
