package processors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// DefaultWriteBehindKeys is how many devices a partition of the windowed
// stage holds written only in memory before it writes them out
// (Config.WriteBehindKeys).
const DefaultWriteBehindKeys = 1024

// writeBehind is a partition's record cache, as Kafka Streams keeps one in
// front of a state store: a reading updates its device in memory, and the
// device's value goes to the store and the changelog once per flush, not
// once per reading. In a catch-up a device gets several readings between
// two flushes, so the changelog gets several times fewer records (each
// encoded, produced, stored by the broker and fetched by the relay).
//
// Nothing is committed or published ahead of what it depends on:
//
//   - a record whose effect is only in memory defers its commit
//     (goka.Context.DeferCommit), and so does every later record of the
//     partition until a flush, since the consumer commits the greatest
//     offset marked; the flush's acknowledgements release them, in order;
//   - every held device is written before a watermark mark the partition
//     sends (a mark covers the writes of the readings before it,
//     intake.mark); before a close, the held devices with a reading in a
//     window it closes, and before the close changes them (a device value
//     must never say a window closed that the durable watermark has not;
//     stage.advance); before a device whose station correction read the
//     station's other devices, those (flushLast). So the changelog has
//     the devices before the records that depend on them;
//   - a device's outbox keeps every row since its last flush, so the flush
//     publishes them all (the relay reads the changelog);
//   - the partition flushes on every tick, when it holds keys devices, and
//     when goka stops it (a rebalance, a shutdown), before goka closes its
//     storage and commits for the last time;
//   - a callback that does not run to its end (goka stopped the partition
//     under it, stopIfDone, or failed it) abandons what the partition
//     holds: its devices may carry part of that callback's work (windows
//     a close marked published whose metadata write never happened), so
//     none is written, and every record waiting for a flush stays
//     uncommitted, to be read again by the next owner.
//
// A member that dies with devices in memory never committed the records
// that changed them: the next owner rebuilds the table from the changelog
// and reads those records again, as after any crash.
//
// Concurrency: the partition's callbacks hold mu for their whole run, and
// so does the flush goka's stop triggers (which runs on its own
// goroutine); the acknowledgements run on the producer's goroutine and
// touch only what a flush handed them.
type writeBehind struct {
	mu sync.Mutex
	// keys bounds dirty (<= 0: off, every write goes through goka).
	keys int
	// dirty are the devices written only in memory, in first-write order.
	dirty map[string]heldDevice
	order []string
	// dones release the deferred commits, oldest first.
	dones []func(error)
	// deferred: the running callback deferred its commit.
	deferred bool
	// store is the storage the partition's goka processor opened, out
	// where its changelog records go.
	store storage.Storage
	out   changelogOut
	acks  ackQueue
}

// changelogOut produces a record to the changelog partition of its key and
// calls acked with its offset once the changelog acknowledged it, in
// produce order.
type changelogOut interface {
	produce(key string, value []byte, acked func(offset int64, err error))
}

// kgoChangelog is a changelog topic through a goka processor's producer.
type kgoChangelog struct {
	p     *kgoProducer
	topic string
}

func (c kgoChangelog) produce(key string, value []byte, acked func(int64, error)) {
	c.p.cl.Produce(context.Background(), &kgo.Record{Topic: c.topic, Key: []byte(key), Value: value}, func(r *kgo.Record, err error) {
		if err != nil {
			err = fmt.Errorf("%w: producing to %s: %w", errFlush, c.topic, err)
		}
		acked(r.Offset, err)
	})
}

// heldDevice is a device written only in memory and the earliest event
// time among the readings applied to it since it was last written: no
// window that closes before that time's windows changed.
type heldDevice struct {
	d        *windows.Device
	earliest int64
}

// enabled says whether the partition holds writes back.
func (wb *writeBehind) enabled() bool { return wb.keys > 0 && wb.out != nil }

// get is a device held in memory.
func (wb *writeBehind) get(key string) (*windows.Device, bool) {
	h, ok := wb.dirty[key]
	return h.d, ok
}

// enter starts a callback: it holds the partition's lock until the
// returned function runs, and defers the record's commit while earlier
// ones wait for a flush.
func (wb *writeBehind) enter(ctx goka.Context) func() {
	wb.mu.Lock()
	wb.deferred = false
	// A record goka hands out after it stopped the partition (its select
	// may pick one that was ready) must not be held for a flush that
	// already ran: end it uncommitted.
	if ctx.Context().Err() != nil {
		wb.mu.Unlock()
		stopIfDone(ctx)
	}
	if len(wb.dones) > 0 {
		wb.deferCommit(ctx)
	}
	return wb.mu.Unlock
}

func (wb *writeBehind) deferCommit(ctx goka.Context) {
	if !wb.deferred {
		wb.deferred = true
		wb.dones = append(wb.dones, ctx.DeferCommit())
	}
}

// abandon drops every held device and fails the commits waiting for a
// flush (errAbandoned): the running callback ended without finishing, and
// what it changed in the held devices is not a state any record
// committed. The caller holds mu.
func (wb *writeBehind) abandon() {
	for _, d := range wb.drop() {
		d(errAbandoned)
	}
}

// errAbandoned fails the commits of records whose held writes a callback
// that did not finish made unwritable (writeBehind.abandon).
var errAbandoned = errors.New("processors: held devices abandoned: a callback of the partition did not finish")

// put holds a device's new state in memory after a reading at t changed
// it; the callback's record commits once a flush has written it.
func (wb *writeBehind) put(ctx goka.Context, key string, d *windows.Device, t int64) {
	if wb.dirty == nil {
		wb.dirty = make(map[string]heldDevice, wb.keys)
	}
	h, ok := wb.dirty[key]
	if !ok {
		wb.order = append(wb.order, key)
		h.earliest = t
	}
	h.d, h.earliest = d, min(h.earliest, t)
	wb.dirty[key] = h
	wb.deferCommit(ctx)
}

// full says the partition holds as many devices as it may.
func (wb *writeBehind) full() bool { return len(wb.order) >= wb.keys }

// errFlush wraps what failed a flush; the records it would have released
// stay uncommitted and goka fails the partition.
var errFlush = errors.New("processors: writing held devices")

// flush writes every held device (write) and releases the deferred
// commits once the changelog has acknowledged every write so far. The
// caller holds mu.
func (wb *writeBehind) flush() {
	if len(wb.order) == 0 && len(wb.dones) == 0 {
		return
	}
	for _, key := range wb.order {
		wb.write(key, wb.dirty[key].d)
	}
	wb.acks.release(wb.drop())
}

// flushNow is flush from outside a callback (goka's stop hook,
// stage.rebuild): it takes the partition's lock first.
func (wb *writeBehind) flushNow() {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	wb.flush()
}

// drop forgets every held device and returns the commits that waited for
// them. The caller holds mu.
func (wb *writeBehind) drop() []func(error) {
	clear(wb.dirty)
	clear(wb.order)
	wb.order = wb.order[:0]
	dones := wb.dones
	wb.dones, wb.deferred = nil, false
	return dones
}

// flushLast is flush with key's device written last: its new state was
// computed from the others' (a station correction reads the station's
// other devices), so the changelog must hold theirs first, as it would
// have had each been written when it changed.
func (wb *writeBehind) flushLast(key string) {
	if i := slices.Index(wb.order, key); i >= 0 {
		wb.order = append(slices.Delete(wb.order, i, i+1), key)
	}
	wb.flush()
}

// flushBefore writes the held devices with a reading earlier than t
// applied since they were last written (a close through a watermark
// whose windows hold such readings is about to be written) and keeps the
// commits deferred until the next flush. The caller holds mu.
func (wb *writeBehind) flushBefore(t int64) {
	n := 0
	for _, key := range wb.order {
		if h := wb.dirty[key]; h.earliest < t {
			wb.write(key, h.d)
			delete(wb.dirty, key)
			n++
		}
	}
	if n > 0 {
		wb.order = slices.DeleteFunc(wb.order, func(k string) bool { _, ok := wb.dirty[k]; return !ok })
	}
}

// write writes a held device as goka's SetValue does: the store first,
// then the changelog record, whose offset acknowledges the store's write.
func (wb *writeBehind) write(key string, d *windows.Device) {
	v := wire.EncodeDevice(d, nil)
	d.Outbox = windows.Outbox{}
	seq := wb.acks.produced()
	if err := wb.store.Set(key, v); err != nil {
		wb.acks.ack(seq, fmt.Errorf("%w: key %q: %w", errFlush, key, err))
		return
	}
	st := wb.store
	wb.out.produce(key, v, func(offset int64, err error) {
		if err == nil && offset != 0 {
			err = st.SetOffset(offset)
		}
		wb.acks.ack(seq, err)
	})
}

// ackQueue releases deferred commits once every write made before them
// is acknowledged. The changelog acknowledges a partition's records in
// the order they were produced; an error fails every commit waiting then
// and after.
type ackQueue struct {
	mu      sync.Mutex
	written int64 // writes made
	acked   int64 // writes acknowledged, in order
	err     error
	waiting []waitingDones
}

type waitingDones struct {
	after int64
	dones []func(error)
}

func (q *ackQueue) produced() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.written++
	return q.written
}

func (q *ackQueue) ack(seq int64, err error) {
	q.mu.Lock()
	if seq > q.acked {
		q.acked = seq
	}
	if err != nil && q.err == nil {
		q.err = err
	}
	var ready []waitingDones
	i := 0
	for ; i < len(q.waiting) && (q.waiting[i].after <= q.acked || q.err != nil); i++ {
		ready = append(ready, q.waiting[i])
	}
	q.waiting = q.waiting[i:]
	err = q.err
	q.mu.Unlock()
	for _, w := range ready {
		for _, d := range w.dones {
			d(err)
		}
	}
}

// release calls dones once every write made so far is acknowledged.
func (q *ackQueue) release(dones []func(error)) {
	if len(dones) == 0 {
		return
	}
	q.mu.Lock()
	if q.acked < q.written && q.err == nil {
		q.waiting = append(q.waiting, waitingDones{q.written, dones})
		q.mu.Unlock()
		return
	}
	err := q.err
	q.mu.Unlock()
	for _, d := range dones {
		d(err)
	}
}
