package windows

// CounterMode says what a reading's ENTRIES and EXITS contribute (the
// --counters flag).
type CounterMode string

// Counter modes.
const (
	// Cumulative: ENTRIES/EXITS are register counters; a reading contributes
	// the difference to the device's previous reading in event-time order.
	Cumulative CounterMode = "cumulative"
	// Increment: a reading contributes its own ENTRIES/EXITS.
	Increment CounterMode = "increment"
)

// EmitMode says when a window is published (the --emit flag).
type EmitMode string

// Emit modes.
const (
	EmitFinal   EmitMode = "final"   // a window is published when it closes, then on corrections
	EmitUpdates EmitMode = "updates" // additionally on every change while open
)

// Rules are the window rules shared by every device and station. Times
// are Unix milliseconds.
type Rules struct {
	Windows   Spec
	Grace     int64 // ms after END before a window closes
	Retention int64 // ms of event time that late data may still correct
	Counters  CounterMode
	MaxDelta  int64 // larger counter differences are dropped as glitches
	Emit      EmitMode
}

// CloseStep numbers the instants at which windows close, END + grace of
// window n (see Spec: with AlignEpoch n*slide + size + grace; with
// AlignLocal the end of the n-th local window): the latest at or before t.
// It is non-decreasing in t. Close times are non-decreasing in n; with
// AlignLocal two steps can close at the same instant (a window whose
// start the clocks skipped ends where the one before it does).
func (rules *Rules) CloseStep(t int64) int64 {
	return rules.Windows.lastEnding(t - rules.Grace)
}

// CloseTime is the instant of close step n.
func (rules *Rules) CloseTime(n int64) int64 {
	return rules.Windows.endOf(n) + rules.Grace
}

// IdleTarget is where the watermark of a partition whose sources are all
// idle moves: far enough to close every window holding data up to newest
// (the greatest time any source reached or the partition holds), but never
// past the wall clock,
// so a live stream that pauses does not close the window its next reading
// falls in. It moves from one close time to the next, so a pause costs
// one metadata write per slide, not one per tick.
func (rules *Rules) IdleTarget(newest, wall int64) int64 {
	// The last window holding newest is the last one starting by then.
	return rules.CloseTime(min(rules.CloseStep(wall), rules.Windows.lastStarting(newest)))
}

// publishes is the one rule, for devices and stations alike, that says
// whether a change to a window publishes a revision:
//   - a closed window publishes a correction when its row changed, and its
//     first revision when it has a row and none was published yet (it
//     closed while it had no data);
//   - an open window publishes only in EmitUpdates mode, on a change.
func (rules *Rules) publishes(closed, hasRow, changed bool, rev int32) bool {
	if closed {
		return changed || hasRow && rev == 0
	}
	return rules.Emit == EmitUpdates && changed
}

// Row is one published revision of a window, complete: the relay
// publishes it as is, so a republication after a crash is identical.
type Row struct {
	Start, End     int64 // Unix ms
	Rev            int32
	Gen            int32
	Entries, Exits int64
	Desc           string
	Devices        int32 // stations only
	EmittedAt      int64 // wall-clock ms of the decision
}

// Stamp is what every publication carries besides the row: the wall clock
// of the decision and the replay generation.
type Stamp struct {
	Now int64
	Gen int32
}

// Outbox is what one write of a device's state publishes: its window
// revisions, its station's window revisions that the write caused, and
// too-late readings. It is transient: the next write replaces it, and the
// relay publishes it from the changelog.
type Outbox struct {
	Windows  []Row
	Stations []Row
	Late     [][]byte // too-late readings, in the readings topic's encoding
}

// Empty says whether the outbox publishes nothing.
func (o Outbox) Empty() bool { return len(o.Windows) == 0 && len(o.Stations) == 0 && len(o.Late) == 0 }

// TooLate is the too-late cut: a reading at t is too late for device s
// when it is older than the partition's watermark (when has) minus
// retention, or falls in a window the device has already pruned. A reading
// that is too late is not applied; it goes to the late topic.
func (rules *Rules) TooLate(watermark int64, has bool, s *Device, t int64) bool {
	return has && t < watermark-rules.Retention || s.Expired(rules, t)
}
