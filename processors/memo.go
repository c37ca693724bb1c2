package processors

import (
	"errors"
	"fmt"

	"github.com/lovoo/goka"
)

// memoKeys bounds how many decoded values a partition's memo keeps. A
// device value is a few hundred bytes decoded; the memo holds every device
// of a partition at MTA scale (about 5,000 devices over the partitions)
// and the open windows of a station partition.
const memoKeys = 8192

// memo keeps the decoded value a partition's callbacks last wrote for each
// key, so the next callback for that key skips goka's storage read and
// decode (the largest single cost per record in the profile). It belongs
// to a partClock, which is rebuilt whenever goka opens the partition's
// storage again (a new session after a rebalance or restart, recovery from
// the changelog): within one storage generation our callbacks are the
// table's only writer, so what they last wrote is what the table holds.
//
// The contract for callbacks: a value obtained from value may be mutated
// only on the way to setValue, with two exceptions that change nothing a
// reader can tell: resetting the transient outbox (the next write replaces
// it anyway), and a device value caught up to the partition's watermark by
// the control key's sweep (devices.closeKey; every reader of the stored
// value catches it up the same way, deterministically).
//
// Like the clock, a memo is used by the partition's callback goroutine
// only.
type memo struct {
	values map[string]any
}

func (m *memo) get(key string) (any, bool) {
	v, ok := m.values[key]
	return v, ok
}

func (m *memo) put(key string, v any) {
	if m.values == nil {
		m.values = make(map[string]any)
	}
	if _, ok := m.values[key]; !ok && len(m.values) >= memoKeys {
		for k := range m.values { // drop an arbitrary key
			delete(m.values, k)
			break
		}
	}
	m.values[key] = v
}

// value is the key's current table value: the memo's, or goka's (decoded
// from storage) on a miss.
func value(ctx goka.Context, c *partClock) any {
	if v, ok := c.memo.get(ctx.Key()); ok {
		return v
	}
	if d, ok := c.wb.get(ctx.Key()); ok {
		return d // held in memory, newer than the storage's
	}
	v := ctx.Value()
	stopIfDone(ctx) // a failed read comes back as nil once the context is done
	if v != nil {
		c.memo.put(ctx.Key(), v)
	}
	return v
}

// setValue writes the key's value through goka (storage and changelog;
// goka encodes it before returning) and remembers the decoded value.
func setValue(ctx goka.Context, c *partClock, v any) {
	stopIfDone(ctx)
	ctx.SetValue(v)
	stopIfDone(ctx)
	c.memo.put(ctx.Key(), v)
}

// errStopping ends a callback whose partition is being stopped.
var errStopping = errors.New("processors: partition stopping")

// stopIfDone ends the callback when its partition's context is done. goka's
// Fail panics only while the context is live; once it is done, Fail records
// the error and returns into the callback, where a failed Value reads as
// nil (a new key) and a failed SetValue as success, and goka then commits
// the input. A panic is how goka's own Fail ends a callback: the partition
// processor recovers it, does not commit the input and stops the
// partition, so the record is processed again by the next owner.
func stopIfDone(ctx goka.Context) {
	if err := ctx.Context().Err(); err != nil {
		panic(fmt.Errorf("%w: %w", errStopping, err))
	}
}
