package processors

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// tableCtx is a goka callback context over one partition's storage: what
// goka does for our callbacks (the value read and decoded, SetValue
// encoded into the storage), and every meta write recorded.
type tableCtx struct {
	gokaContext // nil: any other method panics
	st          storage.Storage
	key         string
	offset      int64
	metas       []*wire.PartitionMeta
}

func (c *tableCtx) Context() context.Context { return context.Background() }
func (c *tableCtx) Key() string              { return c.key }
func (c *tableCtx) Partition() int32         { return 0 }
func (c *tableCtx) Offset() int64            { return c.offset }
func (c *tableCtx) Fail(err error)           { panic(err) }
func (c *tableCtx) Value() any {
	b, err := c.st.Get(c.key)
	if err != nil || b == nil {
		return nil
	}
	v, err := wire.TableCodec{}.Decode(b)
	if err != nil {
		panic(err)
	}
	return v
}
func (c *tableCtx) SetValue(v any, _ ...goka.ContextOption) {
	b, err := wire.TableCodec{}.Encode(v)
	if err != nil {
		panic(err)
	}
	if err := c.st.Set(c.key, b); err != nil {
		panic(err)
	}
	if _, ok := v.(*wire.PartitionMeta); ok {
		// What the changelog got: decode the bytes, as the relay does.
		dm, err := wire.DecodeMeta(b)
		if err != nil {
			panic(err)
		}
		c.metas = append(c.metas, dm)
	}
}

// inlineDevices is a device group of one partition, with one input source,
// over an in-memory storage; reopen simulates goka opening the partition's
// storage again (a restart on the same local state).
type inlineDevices struct {
	d   *devices
	st  storage.Storage
	ctx *tableCtx
	off int64
}

func newInlineDevices(t *testing.T) *inlineDevices {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st := storage.NewMemory()
	tracker := &storageTracker{open: map[int32]trackedStorage{0: {st, 1}}, gen: 1}
	w := &windowed{name: "w", sem: testRules(), tracker: tracker, ctrl: controlKeys(1),
		log: slog.New(slog.DiscardHandler), metrics: m, clocks: map[int32]*partClock{}, sources: 1}
	d := &devices{windowed: w}
	w.runs(d)
	return &inlineDevices{d: d, st: st, ctx: &tableCtx{st: st}}
}

func (x *inlineDevices) reopen() {
	tr := x.d.tracker
	tr.gen++
	tr.open[0] = trackedStorage{x.st, tr.gen}
}

func (x *inlineDevices) reading(key string, tMin float64, entries int64, id string) {
	x.off++
	x.ctx.key, x.ctx.offset = key, x.off
	r := &wire.Reading{T: int64(tMin * float64(minute))}
	r.ID, r.Entries, r.Station, r.LineName = id, entries, "S", "1"
	x.d.onReading(x.ctx, r)
}

func (x *inlineDevices) mark(tMin float64) {
	x.off++
	x.ctx.key, x.ctx.offset = x.d.ctrl[0], x.off
	x.d.onReading(x.ctx, &wire.Mark{Source: 0, Time: int64(tMin * float64(minute)), HasTime: true})
}

// published is every first revision and correction, from the metadata's
// closes and the keys' own outboxes alike, by device|start|rev.
func (x *inlineDevices) published(t *testing.T) map[string]windows.Row {
	t.Helper()
	out := map[string]windows.Row{}
	add := func(key string, w windows.Row) {
		k := fmt.Sprintf("%s|%d|%d", key, w.Start/minute, w.Rev)
		if _, dup := out[k]; dup {
			t.Errorf("%s published twice", k)
		}
		out[k] = w
	}
	for _, m := range x.ctx.metas {
		for _, c := range m.Closes {
			add(c.Key, c.Row)
		}
	}
	return out
}

// TestInlineClosesInSteps: one watermark advance that closes more windows
// than one metadata write may carry is written in steps, each a watermark
// with every close up to it; every window is published once, as revision
// 1, in the same write as the watermark that closed it.
func TestInlineClosesInSteps(t *testing.T) {
	x := newInlineDevices(t)
	const devices = 3000
	for i := range devices {
		key := fmt.Sprintf("d%04d", i)
		x.reading(key, 1, 100, key+"a")  // window [0, 5)
		x.reading(key, 6, 110, key+"b")  // window [5, 10)
		x.reading(key, 11, 120, key+"c") // window [10, 15)
	}
	x.mark(1) // the first watermark: nothing closes
	x.mark(30)
	var rows int
	last := int64(-1)
	for _, m := range x.ctx.metas {
		if len(m.Closes) > maxCloseRows {
			t.Errorf("a metadata write carries %d rows, more than %d", len(m.Closes), maxCloseRows)
		}
		for _, c := range m.Closes {
			if close := c.Row.End + x.d.sem.Grace; !m.HasTime || close > m.StreamTime {
				t.Errorf("%s window %d closes at %d, beyond the write's watermark %d", c.Key, c.Row.Start, close, m.StreamTime)
			}
		}
		if m.HasTime && m.StreamTime < last {
			t.Errorf("watermark went back from %d to %d", last, m.StreamTime)
		}
		if m.HasTime {
			last = m.StreamTime
		}
		rows += len(m.Closes)
	}
	if rows != 3*devices {
		t.Errorf("%d rows published, want %d", rows, 3*devices)
	}
	if n := len(x.ctx.metas); n < 3 {
		t.Errorf("%d metadata writes; %d rows need at least 3 steps", n, rows)
	}
	final := x.ctx.metas[len(x.ctx.metas)-1]
	if !final.Mark || !final.HasClosed || final.Closed != 30*minute || final.StreamTime != 30*minute {
		t.Errorf("final write: %+v, want Closed and watermark 30 min with Mark", *final)
	}
	pub := x.published(t)
	for k, w := range pub {
		if w.Rev != 1 {
			t.Errorf("%s: revision %d", k, w.Rev)
		}
	}
}

// TestInlineCloseCatchUp: a key's own value is never rewritten to close
// it, so every reader catches it up to the watermark: after a restart on
// the same storage (a rebuilt clock, values read from storage), a reading
// in a closed window is a correction (revision 2, not a second revision
// 1), and further advances publish nothing twice.
func TestInlineCloseCatchUp(t *testing.T) {
	x := newInlineDevices(t)
	x.reading("a", 1, 100, "a1")
	x.reading("a", 3, 110, "a2")
	x.reading("b", 2, 500, "b1")
	x.reading("b", 4, 520, "b2")
	x.mark(4)
	x.mark(12) // closes [0, 5) of both
	before := len(x.published(t))
	if before != 2 {
		t.Fatalf("%d windows published by the advance, want 2", before)
	}

	x.reopen()
	x.d.clocks = map[int32]*partClock{} // a new process: nothing in memory
	x.reading("a", 4, 115, "a3")        // late, within retention: a correction
	x.mark(13)
	x.mark(40)

	var revs []string
	for _, m := range x.ctx.metas {
		for _, c := range m.Closes {
			revs = append(revs, fmt.Sprintf("%s@%d rev %d", c.Key, c.Row.Start/minute, c.Row.Rev))
		}
	}
	v, _ := wire.TableCodec{}.Decode(mustGet(t, x.st, "a"))
	a := v.(*windows.Device)
	if got := a.Emitted.Rev(0); got != 2 {
		t.Errorf("device a window 0 at revision %d after the correction, want 2 (published: %v)", got, revs)
	}
	if len(a.Outbox.Windows) != 1 || a.Outbox.Windows[0].Rev != 2 || a.Outbox.Windows[0].Entries != 15 {
		t.Errorf("the correction's windows.Outbox: %+v, want revision 2 with 15 entries", a.Outbox.Windows)
	}
	if len(revs) != 2 {
		t.Errorf("the metadata published %v; only the two first revisions belong there", revs)
	}
}

func mustGet(t *testing.T, st storage.Storage, key string) []byte {
	t.Helper()
	b, err := st.Get(key)
	if err != nil || b == nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}

const minute = int64(60_000)

func testRules() *windows.Rules {
	w, _ := windows.NewSpec(5*time.Minute, 0)
	return &windows.Rules{Windows: w, Grace: 5 * minute, Retention: 60 * minute, Counters: windows.Cumulative, MaxDelta: 10000, Emit: windows.EmitFinal}
}
