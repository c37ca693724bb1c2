package processors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/watermark"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// harness runs the windowed stage's callbacks the way goka runs them,
// without Kafka: one in-memory storage and one changelog per partition,
// readings routed by the pipeline's partitioner, marks and ticks to every
// partition's control key, and the relay's view of the changelog (what
// each record publishes). It can lose a partition's last changelog
// records and rebuild its store from the rest, redelivering the input
// whose writes were lost (a crash), reopen every partition (a restart or
// a rebalance), and replay all input as a new generation.
//
// In the direct layout (Topology) it also delivers input records to the
// stage's input callback: what the stage emits to the readings topic
// (re-keyed readings, its sources' marks) is delivered to those
// partitions after the callback, and a partition's writes count as
// acknowledged (the marks' gate, intake.mark) once relayed.
//
// Every record published is checked as it is published: a window's
// revisions count up by one, and one (key, generation, revision) has one
// content, across crashes and redeliveries.
type harness struct {
	t     testing.TB
	stage *stage
	wall  int64 // the stage's wall clock: the last tick's
	parts []*hpart
	// published is every row published, in order (republications
	// included), and latest the latest row of each window.
	published []hrow
	latest    map[hwin]hrow
	seen      map[hrev]hrow
	input     []hinput // every input, in order, for a replay
	// emitted are the records the stage emitted to the readings topic,
	// not delivered yet.
	emitted []hinput
	// paused are the input partitions watermark alignment paused (the
	// harness is the stage's inputPauser).
	paused map[int32]bool
	// stopNext are the partitions goka stops during their next callback
	// (stopDuring); stopped those stopped, whose records wait for the next
	// owner (reopenStopped).
	stopNext, stopped map[int32]bool
	// pokes counts the intake's pokes of the member's tickers (direct
	// layout), shown the pokes commandOutput has printed.
	pokes, shown int
}

// stopDuring has goka stop partition p while its next callback runs: the
// callback's context ends once it has begun, so the callback ends at its
// next check (stopIfDone), unfinished and uncommitted, and goka's stop
// hook writes what the partition holds (stage.rebuild). The command's
// output then reopens the partition (reopenStopped).
func (h *harness) stopDuring(p int32) {
	if h.stopNext == nil {
		h.stopNext, h.stopped = map[int32]bool{}, map[int32]bool{}
	}
	h.stopNext[p] = true
}

// reopenStopped hands each stopped partition to its next owner: its store
// as goka left it, nothing in memory, every uncommitted record delivered
// again.
func (h *harness) reopenStopped() string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(h.stopped)) {
		delete(h.stopped, p)
		fmt.Fprintf(&b, "stopped during a callback: %s\n", h.crash(p, 0))
	}
	return b.String()
}

func (h *harness) pauseInput(p int32, pause bool) {
	if h.paused == nil {
		h.paused = map[int32]bool{}
	}
	h.paused[p] = pause
}

// hpart is one partition: its storage, the changelog goka would have
// produced (relayed: how much of it the relay has published; those
// records were acknowledged), the input it processed with the changelog
// length after each.
type hpart struct {
	st        storage.Storage
	changelog []hrec
	relayed   int
	openedAt  int // the changelog's length when the storage was (re)opened
	inputs    []hprocessed
	offset    int64 // next offset on the readings topic
	loop      int64 // next offset on the loopback topic
	inOffset  int64 // next offset on the input topic (direct layout)
}

type hrec struct {
	key   string
	value []byte
}

type hprocessed struct {
	in       hinput
	end      int                // changelog length once its writes were made
	accepted *reference.Reading // a reading the stage accepted (not too late)
}

// hinput is one record delivered to a partition: a reading or a mark on
// the readings topic, a tick on the loopback topic, or (input set) a
// reading on the input topic.
type hinput struct {
	part    int32
	key     string
	reading *wire.Reading
	mark    *wire.Mark
	tick    *wire.Tick
	input   bool
	// appended is the record's Kafka timestamp (zero: none).
	appended time.Time
}

type hwin struct {
	kind, key string
	start     int64
}

type hrev struct {
	hwin
	gen, rev int32
}

type hrow struct {
	kind, key, division string
	row                 windows.Row
}

func newHarness(t testing.TB, rules *windows.Rules, partitions, sources int, idle time.Duration) *harness {
	return newHarnessLayout(t, rules, partitions, sources, idle, false)
}

// newHarnessLayout is newHarness, in the direct layout when direct (then
// sources is the partition count: the input is co-partitioned).
func newHarnessLayout(t testing.TB, rules *windows.Rules, partitions, sources int, idle time.Duration, direct bool) *harness {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, latest: map[hwin]hrow{}, seen: map[hrev]hrow{}}
	now := func() time.Time { return time.UnixMilli(h.wall) }
	tracker := &storageTracker{open: map[int32]trackedStorage{}}
	h.stage = &stage{name: "turnstile-windows", rules: rules, idle: idle, topics: DefaultTopics(), tracker: tracker,
		ctrl: controlKeys(partitions), log: slog.New(slog.DiscardHandler), metrics: m, clocks: map[int32]*partClock{},
		sources: sources, direct: direct, count: m.stageCounters("turnstile-windows"), now: now}
	if direct {
		h.stage.sources = partitions
		// Marks whenever a source reaches a later close step (no wall
		// clock: the files' outputs are deterministic).
		h.stage.in = &intake{group: h.stage.name, rules: rules, topics: h.stage.topics, log: h.stage.log, metrics: m,
			inRecords:    m.recordsIn.WithLabelValues(StageIngest),
			readingsCtrl: h.stage.ctrl, ctrl: h.stage.ctrl, idle: idle, now: now, backlog: &backlogSeen{}}
		h.stage.in.acked = h.stage.acked
		h.stage.in.poke = func() { h.pokes++ }
	}
	for p := range partitions {
		h.parts = append(h.parts, &hpart{st: storage.NewMemory()})
		h.open(int32(p))
	}
	return h
}

// open makes goka (re)open partition p's storage: its clock is rebuilt on
// the next callback.
func (h *harness) open(p int32) {
	// goka opens a partition's storage in a new group session, whose
	// partition consumers fetch: nothing is paused.
	delete(h.paused, p)
	tr := h.stage.tracker
	tr.gen++
	part := h.parts[p]
	part.openedAt = len(part.changelog)
	tr.open[p] = trackedStorage{&hstorage{Storage: part.st, part: part}, tr.gen}
}

// hstorage is a partition's storage as the stage sees it: its writes are
// acknowledged once the relay has published them.
type hstorage struct {
	storage.Storage
	part *hpart
}

func (s *hstorage) Acknowledged() (written, acked int64) {
	p := s.part
	return int64(len(p.changelog) - p.openedAt), int64(max(0, p.relayed-p.openedAt))
}

// deliver runs one input record's callback, as goka would, and records a
// reading the stage accepted (not too late) for the reference.
func (h *harness) deliver(in hinput) {
	late, emitted := counterValue(h.stage.metrics.late), len(h.emitted)
	p := h.parts[in.part]
	// Its slot, reserved: a held write's flush may release (commit) it
	// during a later record's callback.
	slot := len(p.inputs)
	p.inputs = append(p.inputs, hprocessed{in: in, end: uncommitted})
	if h.stopped[in.part] {
		return // for the partition's next owner
	}
	ctx := &hctx{h: h, part: in.part, key: in.key, slot: slot, stop: h.stopNext[in.part], appended: in.appended}
	delete(h.stopNext, in.part)
	// As goka runs the stage's callbacks: through stage.held.
	cb := h.stage.held(func(goka.Context, any) {
		switch {
		case in.input:
			ctx.offset, ctx.topic = p.inOffset, h.stage.topics.Input
			p.inOffset++
			// As stage.onInput, past the decoding.
			src := h.stage.in.source(in.part)
			h.stage.input(ctx, src, in.reading)
			h.stage.in.consumed(ctx, src)
		case in.tick != nil:
			ctx.offset = p.loop
			p.loop++
			h.stage.onLoop(ctx, *in.tick)
		case in.mark != nil:
			ctx.offset = p.offset
			p.offset++
			h.stage.onReading(ctx, in.mark)
		default:
			ctx.offset = p.offset
			p.offset++
			h.stage.onReading(ctx, in.reading)
		}
	})
	if !runStoppable(cb, ctx) {
		// goka's stop hook (stage.rebuild) writes what the partition
		// holds once the callback has let go of it.
		h.stopped[in.part] = true
		if c := h.stage.clocks[in.part]; c != nil {
			c.wb.flushNow()
		}
		return
	}
	x := &p.inputs[slot]
	ctx.finished = true
	if !ctx.deferred {
		x.end = len(p.changelog)
	} else {
		ctx.commitIfDone()
	}
	// A reading re-keyed from the input is accepted (or not) where the
	// readings topic delivers it.
	rekeyed := false
	for _, e := range h.emitted[emitted:] {
		rekeyed = rekeyed || e.reading != nil
	}
	if r := in.reading; r != nil && !rekeyed && counterValue(h.stage.metrics.late) == late {
		st, line, _ := schemas.SplitStationKey(schemas.RouteKey(in.key))
		x.accepted = &reference.Reading{Device: in.key, Station: st, Line: line, T: r.T,
			Entries: r.Entries, Exits: r.Exits, ID: r.ID, Desc: r.Desc}
	}
}

// runStoppable runs a callback as goka's partition processor does, and
// reports false if it ended because its partition was stopped under it
// (stopIfDone's panic, which goka recovers without committing the record).
func runStoppable(cb goka.ProcessCallback, ctx *hctx) (finished bool) {
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); !ok || !errors.Is(err, errStopping) {
				panic(r)
			}
		}
	}()
	cb(ctx, nil)
	return true
}

// uncommitted is the end of an input whose commit a held write defers:
// every crash delivers it again until a flush releases it.
const uncommitted = math.MaxInt

// hchangelog is where the stage writes held devices (writeBehind): the
// changelog of the key's partition, acknowledged at once (the harness
// counts a write as acknowledged once relayed, and a crash loses what was
// not).
type hchangelog struct{ h *harness }

func (c hchangelog) produce(key string, value []byte, acked func(int64, error)) {
	p := c.h.parts[schemas.Partition(key, len(c.h.parts))]
	p.changelog = append(p.changelog, hrec{key, value})
	acked(0, nil)
}

// inputRecord delivers a reading to input partition p with key (the
// direct layout), then what the stage emitted.
func (h *harness) inputRecord(p int32, key string, r *wire.Reading) {
	h.inputAppended(p, key, r, time.Time{})
}

// inputAppended is inputRecord for a record appended at appended.
func (h *harness) inputAppended(p int32, key string, r *wire.Reading, appended time.Time) {
	in := hinput{part: p, key: key, reading: r, input: true, appended: appended}
	h.input = append(h.input, in)
	h.deliver(in)
	h.pump()
}

// pump delivers what the stage emitted to the readings topic, in order.
func (h *harness) pump() {
	for len(h.emitted) > 0 {
		in := h.emitted[0]
		h.emitted = h.emitted[1:]
		h.deliver(in)
	}
}

// accepted are the readings the partitions accepted, for the reference.
func (h *harness) accepted() []reference.Reading {
	var out []reference.Reading
	for _, p := range h.parts {
		for _, x := range p.inputs {
			if x.accepted != nil {
				out = append(out, *x.accepted)
			}
		}
	}
	return out
}

// relay publishes every partition's changelog records the relay has not
// published yet (they are acknowledged from then on).
func (h *harness) relay() {
	for p, part := range h.parts {
		for _, r := range part.changelog[part.relayed:] {
			h.relayRecord(int32(p), r.key, r.value)
		}
		part.relayed = len(part.changelog)
	}
}

// reading delivers a reading to its key's partition.
func (h *harness) reading(r *wire.Reading) {
	in := hinput{part: schemas.Partition(r.Key(), len(h.parts)), key: r.Key(), reading: r}
	h.input = append(h.input, in)
	h.deliver(in)
}

// mark delivers a source's mark to every partition's control key.
func (h *harness) mark(m wire.Mark) {
	for p := range h.parts {
		mk := m
		in := hinput{part: int32(p), key: h.stage.ctrl[p], mark: &mk}
		h.input = append(h.input, in)
		h.deliver(in)
	}
}

// tick delivers a tick to every partition's control key, with the
// partition's declared end (endsAt), then what the stage emitted. The
// stage's wall clock is the tick's from then on (a tick is applied as it
// is measured).
func (h *harness) tick(tk wire.Tick, endsAt func(p int) int64) {
	h.wall = tk.Wall
	for p := range h.parts {
		tk := tk
		tk.EndsAt = endsAt(p)
		in := hinput{part: int32(p), key: h.stage.ctrl[p], tick: &tk}
		h.input = append(h.input, in)
		h.deliver(in)
		h.pump()
	}
}

// idleSource has input partition p's source say it is idle (the direct
// layout), through its marks' queue as a tick's idle mark goes: after the
// marks it keeps.
func (h *harness) idleSource(p int32) {
	ctx := &hctx{h: h, part: p, key: h.stage.ctrl[p]}
	in := h.stage.in
	src := in.source(p)
	mk, _ := src.Flush(time.Now())
	in.mark(ctx, src, watermark.Mark{Time: mk.Time, Has: mk.Has, Idle: true})
	h.pump()
}

// crash loses partition p's last n changelog records (their writes were
// in local storage, not acknowledged), rebuilds its store from the rest
// (package state rebuilds a store not closed cleanly), and redelivers every
// input from the first whose writes were lost (goka committed nothing
// after it), on a fresh clock. goka consumes a partition's topics
// independently, so the order of their redelivered records is not the
// order they first came in: the readings topic's come first here (the
// worst case for records of the input topic, whose marks they may carry).
func (h *harness) crash(p int32, lose int) string {
	part := h.parts[p]
	if lose < 0 {
		lose = len(part.changelog) - part.relayed // every unacknowledged write
	}
	keep := max(0, len(part.changelog)-lose)
	if keep < part.relayed {
		h.t.Fatalf("partition %d: cannot lose %d changelog records: only %d are not acknowledged (relayed)", p, lose, len(part.changelog)-part.relayed)
	}
	part.changelog = part.changelog[:keep]
	part.st = storage.NewMemory()
	for _, r := range part.changelog {
		var err error
		if r.value == nil {
			err = part.st.Delete(r.key)
		} else {
			err = part.st.Set(r.key, r.value)
		}
		if err != nil {
			h.t.Fatal(err)
		}
	}
	i := sort.Search(len(part.inputs), func(i int) bool { return part.inputs[i].end > keep })
	redo := slices.Clone(part.inputs[i:])
	part.inputs = part.inputs[:i]
	// The offsets of the redelivered records are theirs again.
	part.offset, part.loop, part.inOffset = 0, 0, 0
	for _, x := range part.inputs {
		switch {
		case x.in.input:
			part.inOffset++
		case x.in.tick != nil:
			part.loop++
		default:
			part.offset++
		}
	}
	delete(h.stage.clocks, p)
	if h.stage.in != nil {
		delete(h.stage.in.sources, p) // the process died: its sources are gone
	}
	h.open(p)
	for _, first := range []bool{true, false} {
		for _, x := range redo {
			if x.in.input != first {
				h.deliver(x.in)
				h.pump()
			}
		}
	}
	return fmt.Sprintf("partition %d: lost %d unacknowledged records, store rebuilt from %d, %d inputs delivered again", p, lose, keep, len(redo))
}

// flushHeld writes what every partition holds back, as its next tick
// would (writeBehind).
func (h *harness) flushHeld() {
	for _, c := range h.stage.clocks {
		c.wb.flushNow()
	}
}

// restart reopens every partition on its storage with nothing in memory
// (a new process, or partitions handed to another member with a valid
// local store).
func (h *harness) restart() {
	// goka stops each partition first: what it holds is written
	// (stage.rebuild's stop hook).
	h.flushHeld()
	h.stage.clocks = map[int32]*partClock{}
	if h.stage.in != nil {
		// goka's rebalance callback: the new session's sources start afresh
		// (their kept marks counted writes of the storage before).
		h.stage.in.forget(goka.Assignment{})
	}
	for p := range h.parts {
		h.open(int32(p))
	}
}

// replay clears the tables and redelivers every input in order as
// generation gen (turnstile replay --from earliest).
func (h *harness) replay(gen int32) {
	h.stage.gen = gen
	h.stage.clocks = map[int32]*partClock{}
	inputs := h.input
	for p := range h.parts {
		h.parts[p] = &hpart{st: storage.NewMemory()}
		h.open(int32(p))
	}
	for _, in := range inputs {
		if in.input || in.tick != nil || in.mark == nil {
			h.deliver(in)
			h.pump()
		} else if !h.stage.direct {
			h.deliver(in) // a mark the test sent (the ingest layout)
		}
	}
}

// relayRecord publishes what a changelog record holds, as the relay does.
func (h *harness) relayRecord(_ int32, key string, b []byte) {
	if b == nil {
		return
	}
	if b[0] == wire.TagPartition {
		m, err := wire.DecodeMeta(b)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, c := range m.Closes {
			h.publish(hrow{"device", c.Key, c.Division, c.Row})
		}
		for _, c := range m.Stations {
			h.publish(hrow{"station", c.Key, c.Division, c.Row})
		}
		return
	}
	head, ok, err := wire.PendingHead(b)
	if err != nil {
		h.t.Fatal(err)
	}
	if !ok {
		return
	}
	for _, w := range head.Outbox.Windows {
		h.publish(hrow{"device", key, head.Division, w})
	}
	for _, w := range head.Outbox.Stations {
		h.publish(hrow{"station", schemas.RouteKey(key), head.Division, w})
	}
	for _, l := range head.Outbox.Late {
		r, err := wire.DecodeReading(l)
		if err != nil {
			h.t.Fatal(err)
		}
		h.publish(hrow{kind: "late", key: key, row: windows.Row{Start: r.T}})
	}
}

func (h *harness) publish(r hrow) {
	h.published = append(h.published, r)
	if r.kind == "late" {
		return
	}
	w := hwin{r.kind, r.key, r.row.Start}
	v := hrev{w, r.row.Gen, r.row.Rev}
	if old, ok := h.seen[v]; ok {
		if old != r {
			h.t.Errorf("%s %s window %s generation %d revision %d published with two contents:\n  %s\n  %s",
				r.kind, r.key, hm(r.row.Start), r.row.Gen, r.row.Rev, old.String(), r.String())
		}
		return // a republication after a crash, byte-identical
	}
	h.seen[v] = r
	prev, ok := h.latest[w]
	switch {
	case ok && prev.row.Gen == r.row.Gen && r.row.Rev != prev.row.Rev+1:
		h.t.Errorf("%s %s window %s: revision %d after %d", r.kind, r.key, hm(r.row.Start), r.row.Rev, prev.row.Rev)
	case (!ok || prev.row.Gen < r.row.Gen) && r.row.Rev != 1:
		h.t.Errorf("%s %s window %s generation %d begins at revision %d", r.kind, r.key, hm(r.row.Start), r.row.Gen, r.row.Rev)
	}
	if !ok || r.row.Gen >= prev.row.Gen {
		h.latest[w] = r
	}
}

// hm formats a harness time (Unix ms from 2024-01-06 00:00 UTC) as HH:MM,
// hours past 24 for later days.
func hm(t int64) string {
	m := (t - hbase) / minute
	return fmt.Sprintf("%02d:%02d", m/60, m%60)
}

var hbase = time.Date(2024, 1, 6, 0, 0, 0, 0, time.UTC).UnixMilli()

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func (r hrow) String() string {
	switch r.kind {
	case "late":
		return fmt.Sprintf("late %s t=%s", r.key, hm(r.row.Start))
	case "station":
		return fmt.Sprintf("station %s [%s,%s) gen=%d rev=%d entries=%d exits=%d devices=%d", r.key, hm(r.row.Start), hm(r.row.End),
			r.row.Gen, r.row.Rev, r.row.Entries, r.row.Exits, r.row.Devices)
	}
	return fmt.Sprintf("device %s [%s,%s) gen=%d rev=%d entries=%d exits=%d desc=%s", r.key, hm(r.row.Start), hm(r.row.End),
		r.row.Gen, r.row.Rev, r.row.Entries, r.row.Exits, r.row.Desc)
}

// watermarks lists each partition's watermark.
func (h *harness) watermarks() string {
	var b strings.Builder
	b.WriteString("watermarks:")
	for p := range h.parts {
		v, err := h.parts[p].st.Get(h.stage.ctrl[p])
		if err != nil {
			h.t.Fatal(err)
		}
		w := "none"
		if v != nil {
			m, err := wire.DecodeMeta(v)
			if err != nil {
				h.t.Fatal(err)
			}
			if m.HasTime {
				w = hm(m.StreamTime)
			}
		}
		fmt.Fprintf(&b, " p%d=%s", p, w)
	}
	if h.stage.pauser != nil {
		b.WriteString("\ninput paused:")
		n := 0
		for p := range h.parts {
			if h.paused[int32(p)] {
				fmt.Fprintf(&b, " p%d", p)
				n++
			}
		}
		if n == 0 {
			b.WriteString(" none")
		}
	}
	return b.String()
}

// check compares the latest revision of every window with the reference
// over the accepted readings.
func (h *harness) check() string {
	r := h.stage.rules
	params := reference.Params{SizeMs: r.Windows.Size, SlideMs: r.Windows.Slide, Cumulative: r.Counters == windows.Cumulative, MaxDelta: r.MaxDelta}
	accepted := h.accepted()
	wantDev := reference.Devices(params, accepted)
	wantSt := reference.StationsOf(wantDev, accepted)
	gotDev := map[reference.DeviceKey]reference.Row{}
	gotSt := map[reference.StationKey]reference.Row{}
	for w, row := range h.latest {
		switch w.kind {
		case "device":
			gotDev[reference.DeviceKey{Device: w.key, Start: w.start}] = reference.Row{Entries: row.row.Entries, Exits: row.row.Exits, Desc: row.row.Desc}
		case "station":
			st, line, _ := schemas.SplitStationKey(w.key)
			gotSt[reference.StationKey{Station: st, Line: line, Start: w.start}] = reference.Row{Entries: row.row.Entries, Exits: row.row.Exits, Devices: int(row.row.Devices)}
		}
	}
	var diffs []string
	for k, w := range wantDev {
		if g, ok := gotDev[k]; !ok || g != w {
			diffs = append(diffs, fmt.Sprintf("device %s [%s]: got %+v (published %v), want %+v", k.Device, hm(k.Start), g, ok, w))
		}
	}
	for k := range gotDev {
		if _, ok := wantDev[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("device %s [%s]: published, not in the reference", k.Device, hm(k.Start)))
		}
	}
	for k, w := range wantSt {
		if g, ok := gotSt[k]; !ok || g != w {
			diffs = append(diffs, fmt.Sprintf("station %s|%s [%s]: got %+v (published %v), want %+v", k.Station, k.Line, hm(k.Start), g, ok, w))
		}
	}
	for k := range gotSt {
		if _, ok := wantSt[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("station %s|%s [%s]: published, not in the reference", k.Station, k.Line, hm(k.Start)))
		}
	}
	if len(diffs) == 0 {
		return fmt.Sprintf("ok: %d device and %d station windows equal the reference", len(wantDev), len(wantSt))
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "\n")
}

// hctx is a goka callback context over one partition of the harness: what
// goka does for the stage's callbacks (values read and decoded from the
// partition's storage, SetValue encoded into it and its changelog).
type hctx struct {
	gokaContext // nil: any other method panics
	h           *harness
	part        int32
	key         string
	offset      int64
	topic       string
	slot        int  // its input's index in the partition's inputs
	deferred    bool // it deferred its commit (writeBehind)
	// stop: goka stops the partition during this callback (stopDuring);
	// begun: its context was asked for once.
	stop, begun bool
	// appended is the record's Kafka timestamp (zero: none).
	appended time.Time
	// finished: the callback returned; pending: deferred commits not
	// released yet; failed: one was released with an error.
	finished, failed bool
	pending          int
}

// stoppedContext is the context of a partition goka stopped.
var stoppedContext = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// DeferCommit holds the input's commit until the returned function runs:
// its end is then the changelog's length (what a crash must keep for it
// to stay committed).
func (c *hctx) DeferCommit() func(error) {
	c.deferred = true
	c.pending++
	return func(err error) {
		c.pending--
		c.failed = c.failed || err != nil
		c.commitIfDone()
	}
}

// commitIfDone commits the input, as goka does, once its callback
// finished and every commit it deferred was released without an error:
// its end is then the changelog's length. A callback that did not finish
// (its partition was stopped under it) is never committed.
func (c *hctx) commitIfDone() {
	p := c.h.parts[c.part]
	if c.finished && c.pending == 0 && !c.failed && c.slot < len(p.inputs) {
		p.inputs[c.slot].end = len(p.changelog)
	}
}

func (c *hctx) Topic() goka.Stream { return goka.Stream(c.topic) }

// Emit takes what the stage sends to the readings topic (re-keyed
// readings, marks) for delivery after the callback; a dead letter would
// need a decoder, which the harness does not run.
func (c *hctx) Emit(topic goka.Stream, key string, value any, _ ...goka.ContextOption) {
	if string(topic) != c.h.stage.topics.Readings {
		panic(fmt.Sprintf("harness: emit to %s", topic))
	}
	in := hinput{part: schemas.Partition(key, len(c.h.parts)), key: key}
	switch v := value.(type) {
	case *wire.Reading:
		in.reading = v
	case *wire.Mark:
		m := *v
		in.mark = &m
	default:
		panic(fmt.Sprintf("harness: emit %T", value))
	}
	c.h.emitted = append(c.h.emitted, in)
}

// Loopback takes a tick the stage sends itself (stage.nudge), for
// delivery after the callback to the partition its key hashes to, as
// goka's hasher places it: a key of another partition's is then ignored
// there, as it would be.
func (c *hctx) Loopback(key string, value any, _ ...goka.ContextOption) {
	tk, ok := value.(wire.Tick)
	if !ok {
		panic(fmt.Sprintf("harness: loopback %T", value))
	}
	c.h.emitted = append(c.h.emitted, hinput{part: schemas.Partition(key, len(c.h.parts)), key: key, tick: &tk})
}

// Context is live, unless goka stops the partition during this callback
// (stop): then it ends once the callback has begun (the first time it is
// asked for, which is as stage.held enters it).
func (c *hctx) Context() context.Context {
	if c.stop {
		if c.begun {
			return stoppedContext
		}
		c.begun = true
	}
	return context.Background()
}

func (c *hctx) Key() string      { return c.key }
func (c *hctx) Partition() int32 { return c.part }
func (c *hctx) Offset() int64    { return c.offset }
func (c *hctx) Fail(err error)   { panic(err) }

// Timestamp is the record's (hinput.appended); none by default: the
// harness's records count as a live stream's (intake.markInterval), and
// its intake marks without a throttle anyway.
func (c *hctx) Timestamp() time.Time { return c.appended }

func (c *hctx) Value() any {
	b, err := c.h.parts[c.part].st.Get(c.key)
	if err != nil || b == nil {
		return nil
	}
	v, err := wire.TableCodec{}.Decode(b)
	if err != nil {
		panic(err)
	}
	return v
}

func (c *hctx) SetValue(v any, _ ...goka.ContextOption) {
	b, err := wire.TableCodec{}.Encode(v)
	if err != nil {
		panic(err)
	}
	if err := c.h.parts[c.part].st.Set(c.key, b); err != nil {
		panic(err)
	}
	c.h.parts[c.part].changelog = append(c.h.parts[c.part].changelog, hrec{c.key, b})
}
