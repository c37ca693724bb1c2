package processors

import (
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
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

// ingest decodes and validates input records, dead-letters rejects and
// re-keys valid readings by reading key (station first) with the pipeline's
// partitioner (schemas.Hasher). It is where
// event time enters the graph: each input partition is a watermark source
// whose marks (the largest event time it accepted, or that it is idle) go,
// after the readings they cover, to every readings partition.
type ingest struct {
	name    string // the goka group
	sem     *windows.Rules
	decoder *codecs.ReadingCodec
	topics  Topics
	log     *slog.Logger
	metrics *Metrics
	// idle: an input partition caught up and silent this long is idle.
	idle time.Duration
	// markEvery throttles the marks of a busy partition.
	markEvery time.Duration
	// readingsCtrl are the control keys of the readings partitions, ctrl
	// those of this group's loopback partitions (its ticks).
	readingsCtrl, ctrl []string

	mu      sync.Mutex
	sources map[int32]*watermark.Source // by input partition
}

func (in *ingest) group() *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(in.name),
		goka.Input(goka.Stream(in.topics.Input), new(codec.Bytes), in.onRecord),
		goka.Loop(wire.LoopCodec{}, in.onLoop),
		goka.Output(goka.Stream(in.topics.Readings), wire.ReadingCodec{}),
		goka.Output(goka.Stream(in.topics.DeadLetters), new(codec.Bytes)),
	)
}

// source is the partition's watermark source. Each partition's callbacks
// run in one goroutine, so only the map needs the lock.
func (in *ingest) source(p int32) *watermark.Source {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.sources == nil {
		in.sources = map[int32]*watermark.Source{}
	}
	s := in.sources[p]
	if s == nil {
		// A mark that reaches no later window close can close nothing:
		// it waits for a tick.
		s = &watermark.Source{Steps: in.sem.CloseStep}
		in.sources[p] = s
	}
	return s
}

// onRebalance forgets every source: a partition this member gets (back)
// may have been marked idle by another owner meanwhile, so it announces
// itself again before its first reading.
func (in *ingest) onRebalance(goka.Assignment) {
	in.mu.Lock()
	in.sources = nil
	in.mu.Unlock()
}

// sendMark sends a source mark to every readings partition. goka's
// producer keeps the order of one partition's emits per output partition,
// so each mark follows the readings it covers.
func (in *ingest) sendMark(ctx goka.Context, mk watermark.Mark) {
	m := &wire.Mark{Source: ctx.Partition(), Time: mk.Time, HasTime: mk.Has, Idle: mk.Idle}
	for _, k := range in.readingsCtrl {
		ctx.Emit(goka.Stream(in.topics.Readings), k, m)
	}
	in.metrics.marksSent.WithLabelValues(StageIngest).Add(float64(len(in.readingsCtrl)))
}

// onLoop takes this member's ticks: it sends a partition's mark if its
// time advanced since the last (throttled) one, and marks it idle once it
// is caught up and has been silent for the idle timeout.
func (in *ingest) onLoop(ctx goka.Context, msg any) {
	m, ok := msg.(wire.Tick)
	p := ctx.Partition()
	if !ok || int(p) >= len(in.ctrl) || ctx.Key() != in.ctrl[p] {
		return
	}
	src := in.source(p)
	now := time.Now()
	if mk, ok := src.Flush(now); ok {
		in.sendMark(ctx, mk)
	}
	if mk, ok := src.Idle(now, m.CaughtUp, in.idle); ok {
		in.sendMark(ctx, mk)
		in.metrics.idleAdvances.WithLabelValues(in.name).Inc()
	}
	in.metrics.setSource(p, src)
}

func (in *ingest) onRecord(ctx goka.Context, msg any) {
	in.metrics.recordsIn.WithLabelValues(StageIngest).Inc()
	raw, _ := msg.([]byte)
	var (
		r   schemas.Reading
		err error
	)
	backoff := 100 * time.Millisecond
	for {
		r, err = in.decoder.DecodeReading(raw)
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
		return
	}
	t, err := r.ParseEventTime()
	if err != nil {
		in.reject(ctx, raw, &codecs.RejectError{Reason: codecs.ReasonInvalidField, SchemaID: schemaID(raw), Field: "TIMESTAMP", Detail: err.Error(), Err: err})
		return
	}
	src := in.source(ctx.Partition())
	now := time.Now()
	if mk, ok := src.Announce(now); ok {
		in.sendMark(ctx, mk) // rejoin the receivers' minimum before the reading
	}
	ctx.Emit(goka.Stream(in.topics.Readings), r.Key(), &wire.Reading{Reading: r, T: t.UnixMilli()})
	src.Observe(t.UnixMilli())
	if mk, ok := src.Due(now, in.markEvery); ok {
		in.sendMark(ctx, mk)
	}
}

func schemaID(raw []byte) int {
	if id, ok := codecs.SchemaID(raw); ok {
		return id
	}
	return -1
}

func (in *ingest) reject(ctx goka.Context, raw []byte, err error) {
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
