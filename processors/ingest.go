package processors

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/watermark"
	"github.com/turnstile-streams/turnstile/windows"
	"github.com/turnstile-streams/turnstile/wire"
)

// Dead-letter headers: why a record was rejected and where it came from.
// The value is the original bytes, untouched. They are the dead-letter
// topic's contract with its consumers (README, "Bad input"), exported as a
// set even where only tests read them.
const (
	HeaderReason          = "turnstile.reason"
	HeaderDetail          = "turnstile.detail"
	HeaderField           = "turnstile.field"
	HeaderSchemaID        = "turnstile.schema-id"
	HeaderSourceTopic     = "turnstile.source.topic"
	HeaderSourcePartition = "turnstile.source.partition"
	HeaderSourceOffset    = "turnstile.source.offset"
	// HeaderOriginalSize and HeaderOriginalKeySize are set when a record
	// was too large to dead-letter whole: the value (key) on the dead-letter
	// topic is then its first bytes, and the header has the original length.
	HeaderOriginalSize    = "turnstile.original-size"
	HeaderOriginalKeySize = "turnstile.original-key-size"
)

// Dead-letter records must fit the producer's and the broker's record size
// limits (1 MiB by default) with their headers, or the ingest stage could
// never get past the record. Larger keys and values are cut to these sizes.
const (
	maxDeadLetterKey   = 1 << 10
	maxDeadLetterBytes = 900 << 10 // key and value
)

// intake is where input records enter the graph: it decodes and
// validates them, dead-letters what it cannot accept, and keeps each input
// partition's watermark source, whose marks (the largest event time it
// accepted, or that it is idle) go, after the readings they cover, to
// every partition's control key on the readings topic. The ingest stage
// runs it over the input when the input's partition count is not the
// pipeline's and re-keys every reading; otherwise the windowed stage runs
// it in place and re-keys only the readings not on their partition.
//
// Its methods run in the callbacks of the partition they are called for;
// sources is shared between partitions and guarded by mu.
type intake struct {
	group string // the goka group running it
	rules *windows.Rules
	// inRecords counts the input records it decodes (the ingest stage's
	// records-in series, whichever stage runs it).
	inRecords prometheus.Counter
	decoder   *codecs.ReadingCodec
	topics    Topics
	log       *slog.Logger
	metrics   *Metrics
	// idle: an input partition caught up and silent this long is idle.
	idle time.Duration
	// markEvery throttles the marks of a busy partition reading a live
	// stream, catchUpMarkEvery those of one reading a backlog (see
	// markInterval).
	markEvery, catchUpMarkEvery time.Duration
	// readingsCtrl are the control keys of the readings partitions, ctrl
	// those of the loopback partitions of the group running it (its ticks).
	readingsCtrl, ctrl []string
	// acked, when set, says whether the table writes of an input
	// partition's callbacks up to a point are acknowledged by the
	// changelog (the windowed stage's writes of readings applied in
	// place); a mark is sent only once the writes it covers are. nil: no
	// writes to wait for (the ingest stage).
	acked func(ctx goka.Context) ackPoint
	// flush, when set, writes what the partition holds in memory before a
	// mark counts its writes (writeBehind).
	flush func(ctx goka.Context)
	// nudge, when set, asks for a tick on the callback's partition soon:
	// an idle mark kept for acknowledgements is then sent within a round
	// trip, not at the next tick (stage.nudge).
	nudge func(ctx goka.Context)
	// poke, when set, asks the member's tickers to measure and send a tick
	// now (tickPokes): an input partition's idle mark at its declared end
	// went out, so the ticks can stop counting it as lagging (sentEnd).
	poke func()

	// backlog notes the records of a backlog it takes (nil: none).
	backlog *backlogSeen

	// now is the wall clock (nil: time.Now).
	now wallClock

	mu      sync.Mutex
	sources map[int32]*source // by input partition
}

func (in *intake) wall() time.Time { return in.now.wall() }

// markWaitWarning is how long a kept mark waits before a warning says so.
const markWaitWarning = 10 * time.Second

// ackPoint is how many table writes a partition has made and how many of
// them are acknowledged.
type ackPoint struct{ written, acked int64 }

// source is one input partition's watermark source, and the marks it
// waits to send until the writes they cover are acknowledged, oldest first.
type source struct {
	*watermark.Source
	pending []pendingMark
	warned  bool // a warning said the oldest kept mark waits too long
	// reading is where the partition's records are decoded, one after the
	// other (nothing keeps a pointer to it past its callback).
	reading wire.Reading
	// next is the offset after the last input record this member took
	// on the partition (0: none since it got the partition), endsAt the
	// end the latest tick said a producer declared (Tick.EndsAt; 0: none).
	next, endsAt int64
	// sentEnd is the declared end at which the partition's idle mark was
	// sent (0: none, or the partition stopped since): the member's tickers
	// read it (intake.sentEnd). watched says a stop of the partition
	// resets it.
	sentEnd atomic.Int64
	watched bool
}

// ended says whether the partition's last record taken is the last
// before the end its producer declared: it is caught up, whatever its
// group has committed. Past that end, the declaration is stale (more was
// written since) and says nothing.
func (s *source) ended() bool { return s.endsAt > 0 && s.next == s.endsAt }

// pendingMark is a mark and how many of the partition's table writes it
// covers.
type pendingMark struct {
	mk    watermark.Mark
	cut   int64
	since time.Time
}

// source is the partition's watermark source. Each partition's callbacks
// run in one goroutine, so only the map needs the lock.
func (in *intake) source(p int32) *source {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sources == nil {
		in.sources = map[int32]*source{}
	}
	s := in.sources[p]
	if s == nil {
		// A mark that reaches no later window close can close nothing:
		// it waits for a tick.
		s = &source{Source: &watermark.Source{Steps: in.rules.CloseStep}}
		in.sources[p] = s
	}
	return s
}

// forget drops every source: a partition this member gets (back) may have
// been marked idle by another owner meanwhile, so it announces itself
// again before its first reading. A goka rebalance callback.
func (in *intake) forget(goka.Assignment) {
	in.mu.Lock()
	in.sources = nil
	in.mu.Unlock()
}

// mark sends a source's mark to every readings partition, or, when the
// writes it covers (every table write the partition made so far) are not
// acknowledged yet, keeps it until release finds them acknowledged. goka's
// producer keeps the order of one partition's emits per output partition,
// so each mark follows the re-keyed readings it covers.
func (in *intake) mark(ctx goka.Context, src *source, mk watermark.Mark) {
	if in.flush != nil {
		in.flush(ctx)
	}
	if in.acked != nil {
		if a := in.acked(ctx); len(src.pending) > 0 || a.acked < a.written {
			src.pending = append(src.pending, pendingMark{mk, a.written, in.wall()})
			in.release(ctx, src)
			return
		}
	}
	in.send(ctx, src, mk)
}

// release sends, as one mark, the kept marks whose writes are
// acknowledged: a source's marks say its latest state, so one mark with
// the greatest time they carry and the idleness the last one says is
// what they all say together.
func (in *intake) release(ctx goka.Context, src *source) {
	if len(src.pending) == 0 {
		return
	}
	a := in.acked(ctx)
	acked := a.acked
	if first := src.pending[0]; acked < first.cut && !src.warned && in.wall().Sub(first.since) > markWaitWarning {
		// Acknowledgements come within a produce round trip: this says a
		// changelog that does not answer, or an accounting defect.
		src.warned = true
		in.log.Warn("an input partition's watermark mark waits for table writes the changelog has not acknowledged",
			"partition", ctx.Partition(), "waiting", in.wall().Sub(first.since).Round(time.Millisecond), "marks", len(src.pending),
			"covers_writes", first.cut, "written", a.written, "acknowledged", acked)
	}
	var mk watermark.Mark
	i := 0
	for ; i < len(src.pending) && src.pending[i].cut <= acked; i++ {
		p := src.pending[i].mk
		if p.Has && (!mk.Has || p.Time > mk.Time) {
			mk.Time, mk.Has = p.Time, true
		}
		mk.Idle = p.Idle
	}
	if i == 0 {
		return
	}
	src.pending, src.warned = append(src.pending[:0], src.pending[i:]...), false
	in.send(ctx, src, mk)
}

func (in *intake) send(ctx goka.Context, src *source, mk watermark.Mark) {
	m := &wire.Mark{Source: ctx.Partition(), Time: mk.Time, HasTime: mk.Has, Idle: mk.Idle}
	for _, k := range in.readingsCtrl {
		ctx.Emit(goka.Stream(in.topics.Readings), k, m)
	}
	in.metrics.marksSent.WithLabelValues(StageIngest).Add(float64(len(in.readingsCtrl)))
	if mk.Idle && src.ended() {
		in.sentAtEnd(ctx, src)
	}
}

// sentAtEnd notes that the partition's idle mark at its declared end went
// out and pokes the member's tickers. From there on the partition has no
// input the receivers do not know of for as long as its log ends where
// the producer declared: every record before the end was taken, and the
// mark follows on every readings partition whatever they became (goka
// keeps a partition's emits in order). A tick can then count it caught up
// (ticker.lag) without waiting for its group to commit, which goka does
// only at its commit interval, after the write-behind's flush. Once the
// partition stops (goka cancels its context before it hands it on), the
// note is gone: a new owner may read from an older commit.
func (in *intake) sentAtEnd(ctx goka.Context, src *source) {
	if !src.watched {
		src.watched = true
		context.AfterFunc(ctx.Context(), func() { src.sentEnd.Store(0) })
	}
	src.sentEnd.Store(src.next)
	if ctx.Context().Err() != nil {
		src.sentEnd.Store(0) // stopping: AfterFunc may have run before the store
	}
	if in.poke != nil {
		in.poke()
	}
}

// sentEnd is where input partition p's idle mark at its declared end was
// sent by this member (0: none, or p is not this member's now). Safe for
// concurrent use.
func (in *intake) sentEnd(p int32) int64 {
	in.mu.Lock()
	src := in.sources[p]
	in.mu.Unlock()
	if src == nil {
		return 0
	}
	return src.sentEnd.Load()
}

// tick takes a tick on the partition's control key: it sends the
// partition's mark if its time advanced since the last (throttled) one,
// and marks it idle once it is caught up and it, or its log as the ticker
// saw it, has been silent for the idle timeout.
//
// A tick also says where the partition's input ends when a producer
// declared it (Tick.EndsAt): a partition that has read up to there is
// caught up at once, and one still reading goes idle as it takes its last
// record (consumed), rather than after its group commits it and a tick
// measures that lag.
func (in *intake) tick(ctx goka.Context, m wire.Tick) {
	src := in.source(ctx.Partition())
	now := in.wall()
	if m.LagKnown {
		// A tick that measured nothing (a nudge's) says nothing of the end.
		src.endsAt = m.EndsAt
	}
	in.release(ctx, src)
	if mk, ok := src.Flush(now); ok {
		in.mark(ctx, src, mk)
	}
	in.idleIf(ctx, src, m.CaughtUp || src.ended(), time.Duration(m.QuietMs)*time.Millisecond)
	in.metrics.setSource(ctx.Partition(), src.Source)
}

// consumed records that the partition took its input record at the
// callback's offset (whatever became of it), and marks the source idle at
// once when that was the last record of a declared end.
func (in *intake) consumed(ctx goka.Context, src *source) {
	src.next = ctx.Offset() + 1
	if src.ended() && in.idleIf(ctx, src, true, inputEnded) {
		in.metrics.setSource(ctx.Partition(), src.Source)
	}
}

// idleIf sends the source's idle mark if it is caught up and silent
// (watermark.Source.Idle), and asks for a prompt tick when the mark waits
// for acknowledgements (nudge); it reports whether it marked.
func (in *intake) idleIf(ctx goka.Context, src *source, caughtUp bool, quiet time.Duration) bool {
	mk, ok := src.Idle(in.wall(), caughtUp, quiet, in.idle)
	if !ok {
		return false
	}
	in.mark(ctx, src, mk)
	in.metrics.idleAdvances.WithLabelValues(in.group).Inc()
	if len(src.pending) > 0 && in.nudge != nil {
		in.nudge(ctx)
	}
	return true
}

// decode decodes and validates an input record; a record it cannot accept
// is dead-lettered (ok false). A record whose schema the registry cannot
// be asked about right now waits for it rather than be dead-lettered.
func (in *intake) decode(ctx goka.Context, raw []byte, rd *wire.Reading) (ok bool) {
	in.inRecords.Inc()
	var err error
	var et time.Time
	backoff := 100 * time.Millisecond
	for {
		et, err = in.decoder.DecodeReadingInto(raw, &rd.Reading)
		if err == nil || !codecs.IsRetryable(err) {
			break
		}
		// The registry is unreachable and this schema id was never seen:
		// wait for it rather than dead-letter a valid reading.
		in.metrics.registryWaits.Inc()
		in.log.Warn("waiting for the schema registry", "partition", ctx.Partition(), "offset", ctx.Offset(), "err", err, "retry_in", backoff)
		select {
		case <-ctx.Context().Done():
			stopIfDone(ctx) // never return: goka would commit the record unprocessed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	if err != nil {
		in.reject(ctx, raw, err)
		return false
	}
	rd.T = et.UnixMilli()
	return true
}

// announce sends the partition's active mark before its first reading
// after idling (or a rebalance), so receivers count it again before the
// reading arrives.
func (in *intake) announce(ctx goka.Context, src *source, now time.Time) {
	if mk, ok := src.Announce(now); ok {
		in.mark(ctx, src, mk)
	}
}

// observe records that the partition accepted a reading at t and sends
// its mark when one is due. now is the wall clock as the callback took
// the reading (one read of a clock that is slow on some machines).
func (in *intake) observe(ctx goka.Context, src *source, t int64, now time.Time) {
	src.Observe(t)
	appended := ctx.Timestamp()
	if appendedOver(appended, now, trailAge) {
		in.backlog.see(now)
	}
	if mk, ok := src.Due(now, in.markInterval(appended, now)); ok {
		in.mark(ctx, src, mk)
	} else {
		in.release(ctx, src)
	}
}

// catchUpAge is how long ago a record was appended for its partition to
// count as reading a backlog rather than a live stream.
const catchUpAge = time.Second

// markInterval is the throttle of a partition's marks as it takes a record
// appended at appended: markEvery while it reads what was just appended (a
// live stream, where a window's close waits for the mark that passes it),
// catchUpMarkEvery while it reads records appended over catchUpAge ago (a
// backlog: a catch-up after downtime or a replay, where no one waits for
// a close and each mark costs the flush of the devices it covers). A
// record without a timestamp counts as live. The timestamp is the
// producer's (CreateTime) unless the topic says LogAppendTime: a producer
// whose clock is over a second behind makes a live stream look like a
// backlog, which only costs it the live throttle.
func (in *intake) markInterval(appended, now time.Time) time.Duration {
	if appendedOver(appended, now, catchUpAge) {
		return in.catchUpMarkEvery
	}
	return in.markEvery
}

// appendedOver says whether a record appended at appended, taken at now,
// was appended over age before: a backlog's (catchUpAge) or a trailing
// member's (trailAge). A record without a timestamp is neither.
func appendedOver(appended, now time.Time, age time.Duration) bool {
	return !appended.IsZero() && now.Sub(appended) > age
}

// trailAge is how long ago a record was appended for the member that
// takes it to count as trailing its input (Pipeline.CatchingUp): shorter
// than catchUpAge, since a member that falls behind a fast producer by a
// quarter second is already one that the lake-writer in its process slows
// further (the MTA week into dev, the producer as fast as it goes: dev
// trails it by ~1 s only as it exits, by a quarter second for most of the
// week). A live stream's records are taken within a fetch of being
// appended, tens of milliseconds.
const trailAge = 250 * time.Millisecond

// backlogSeen is when a member last took an input record appended over
// trailAge before, for Pipeline.CatchingUp. The intakes of every stage
// and partition share one; safe for concurrent use. A nil one notes
// nothing.
type backlogSeen struct {
	at atomic.Int64 // Unix ns; 0: never
}

// backlogResolution is how stale backlogSeen may be: the partitions' calls
// within it store nothing (each store would move the shared cache line
// between cores, once per record).
const backlogResolution = 10 * time.Millisecond

func (b *backlogSeen) see(now time.Time) {
	if b == nil {
		return
	}
	if n := now.UnixNano(); n-b.at.Load() >= int64(backlogResolution) {
		b.at.Store(n)
	}
}

// within says whether a backlog record was taken within d before now.
func (b *backlogSeen) within(now time.Time, d time.Duration) bool {
	at := b.at.Load()
	return at != 0 && now.UnixNano()-at < int64(d)
}

// rekey sends a reading to its key's partition of the readings topic.
func (in *intake) rekey(ctx goka.Context, r *wire.Reading) {
	ctx.Emit(goka.Stream(in.topics.Readings), r.Key(), r)
}

// ingest is the ingest stage, for an input topic whose partition count is
// not the pipeline's: it runs the intake over the input and re-keys every
// reading by its reading key (station first) with the pipeline's
// partitioner (schemas.Hasher).
type ingest struct {
	*intake
	name string // the goka group
}

func (in *ingest) group() *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(in.name),
		goka.Input(goka.Stream(in.topics.Input), new(codec.Bytes), in.onRecord),
		goka.Loop(wire.LoopCodec{}, in.onLoop),
		goka.Output(goka.Stream(in.topics.Readings), wire.ReadingCodec{}),
		goka.Output(goka.Stream(in.topics.DeadLetters), new(codec.Bytes)),
	)
}

// onLoop takes this member's ticks.
func (in *ingest) onLoop(ctx goka.Context, msg any) {
	m, ok := msg.(wire.Tick)
	p := ctx.Partition()
	if !ok || int(p) >= len(in.ctrl) || ctx.Key() != in.ctrl[p] {
		return
	}
	in.tick(ctx, m)
}

func (in *ingest) onRecord(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	src := in.source(ctx.Partition())
	defer in.consumed(ctx, src)
	if !in.decode(ctx, raw, &src.reading) {
		return
	}
	now := in.wall()
	in.announce(ctx, src, now) // rejoin the receivers' minimum before the reading
	in.rekey(ctx, &src.reading)
	in.observe(ctx, src, src.reading.T, now)
}

func schemaID(raw []byte) int {
	if id, ok := codecs.SchemaID(raw); ok {
		return id
	}
	return -1
}

func (in *intake) reject(ctx goka.Context, raw []byte, err error) {
	rej, ok := codecs.AsReject(err)
	if !ok {
		rej = &codecs.RejectError{Reason: "undecodable", SchemaID: schemaID(raw), Detail: err.Error(), Err: err}
	}
	in.metrics.rejected.WithLabelValues(string(rej.Reason)).Inc()
	h := goka.Headers{
		HeaderReason:          []byte(rej.Reason),
		HeaderDetail:          []byte(truncate(rej.Error(), 1024)),
		HeaderSchemaID:        []byte(strconv.Itoa(rej.SchemaID)),
		HeaderSourceTopic:     []byte(ctx.Topic()),
		HeaderSourcePartition: []byte(strconv.Itoa(int(ctx.Partition()))),
		HeaderSourceOffset:    []byte(strconv.FormatInt(ctx.Offset(), 10)),
	}
	if rej.Field != "" {
		h[HeaderField] = []byte(rej.Field)
	}
	if raw == nil {
		raw = []byte{} // a tombstone: keep a record
	}
	key := ctx.Key()
	if len(key)+len(raw) > maxDeadLetterBytes {
		if len(key) > maxDeadLetterKey {
			h[HeaderOriginalKeySize] = []byte(strconv.Itoa(len(key)))
			key = key[:maxDeadLetterKey]
		}
		if len(key)+len(raw) > maxDeadLetterBytes {
			h[HeaderOriginalSize] = []byte(strconv.Itoa(len(raw)))
			raw = raw[:maxDeadLetterBytes-len(key)]
		}
	}
	ctx.Emit(goka.Stream(in.topics.DeadLetters), key, raw, goka.WithCtxEmitHeaders(h))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
