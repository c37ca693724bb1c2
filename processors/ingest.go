package processors

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Dead-letter headers: why a record was rejected and where it came from.
// The value is the original bytes, untouched.
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
// re-keys valid readings by device with goka's partitioner.
type ingest struct {
	decoder *codecs.ReadingCodec
	topics  Topics
	log     *slog.Logger
	metrics *Metrics
}

func (in *ingest) group(name string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(name),
		goka.Input(goka.Stream(in.topics.Input), new(codec.Bytes), in.onRecord),
		goka.Output(goka.Stream(in.topics.Readings), ReadingCodec{}),
		goka.Output(goka.Stream(in.topics.DeadLetters), new(codec.Bytes)),
	)
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
			ctx.Fail(ctx.Context().Err())
			return
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
	ctx.Emit(goka.Stream(in.topics.Readings), r.DeviceKey(), &Reading{Reading: r, T: t.UnixMilli()})
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
