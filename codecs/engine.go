package codecs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"
)

// Config is what every codec of this package needs to know about the
// registry and the topic.
type Config struct {
	// RegistryURL is the Schema Registry's base URL; used when Client is nil.
	RegistryURL string
	// Client overrides the registry client (for credentials, a custom
	// timeout, or to share one client among codecs). Optional.
	Client srclient.ISchemaRegistryClient
	// Subject is the topic's value subject, schemas.Subject(topic). Encoding
	// registers (or looks up) the writer schema under it; decoding rejects
	// ids not registered under it. Required.
	Subject string
	// SkipSubjectCheck accepts any schema id the registry knows, whatever
	// its subject (for reading a topic whose records come from several
	// subjects).
	SkipSubjectCheck bool
	// LookupOnly makes the encoder only look the writer schema up under
	// Subject, never register it (schemas registered beforehand by
	// `turnstile schemas register`). The default is register-or-lookup.
	LookupOnly bool
	// UnknownIDTTL is how long an id the registry said it does not know
	// (40403) is rejected from cache before asking again. Default 30 s.
	UnknownIDTTL time.Duration
	// MaxRecordBytes rejects larger payloads with ReasonOversized before
	// decoding them; 0 means DefaultMaxRecordBytes, negative no limit.
	MaxRecordBytes int
}

// DefaultMaxRecordBytes bounds a payload the codecs decode. The pipeline's
// records are a few hundred bytes; a reading with every string field at
// DefaultMaxFieldBytes is under 16 KiB.
const DefaultMaxRecordBytes = 64 << 10

// Defaults fills zero fields but the registry and Subject (UnknownIDTTL
// also when negative; a negative MaxRecordBytes stays: no limit).
func (c *Config) Defaults() {
	if c.UnknownIDTTL <= 0 {
		c.UnknownIDTTL = 30 * time.Second
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
}

// validate checks what Defaults cannot fill: the subject and the registry.
func (c *Config) validate() error {
	switch {
	case c.Subject == "":
		return errors.New("codecs: Config.Subject is required")
	case c.Client == nil && c.RegistryURL == "":
		return errors.New("codecs: Config.RegistryURL or Config.Client is required")
	}
	return nil
}

// registry returns the registry client of a validated config.
func (c *Config) registry() srclient.ISchemaRegistryClient {
	if c.Client != nil {
		return c.Client
	}
	cl := srclient.NewSchemaRegistryClient(strings.TrimRight(c.RegistryURL, "/"))
	// The codec keeps its own caches (with per-id subject checks and
	// resolution plans); srclient's caches would only duplicate them, and
	// its "latest" cache never expires.
	cl.CachingEnabled(false)
	return cl
}

// engine is the schema-agnostic part of a codec: Confluent framing, the
// writer id for encoding, and per-id caches of writer codecs and resolution
// plans for decoding. It is safe for concurrent use.
type engine struct {
	client       srclient.ISchemaRegistryClient
	subject      string
	checkSubject bool
	lookupOnly   bool
	unknownTTL   time.Duration
	maxBytes     int

	reader *avroType // reader schema, for resolution

	writerText  string
	writerEntry *writerEntry // the cache entry of the writer schema's id (its goavro codec encodes)
	writerID    atomic.Int64 // 0 until resolved
	resolveMu   sync.Mutex   // serialises writer id resolution

	mu       sync.RWMutex
	ids      map[int]*writerEntry
	negative map[int]negEntry // ids rejected from cache until a deadline
	fetchMu  sync.Mutex       // serialises registry fetches of unseen ids
}

// negEntry remembers a rejection that depends on registry state (an unknown
// id, an id under another subject), which may change: it expires.
type negEntry struct {
	until  time.Time
	reason Reason
	detail string
}

// writerEntry is everything cached about one writer schema id.
type writerEntry struct {
	codec   *goavro.Codec
	plan    *plan
	direct  *directPlan // when the writer record is flat (see direct.go), else nil
	planErr error       // the writer schema cannot be read as the reader schema
	guard   *avroType   // writer schema, when it has arrays or maps (see guard.go)
}

// newEngine builds the engine of a codec whose constructor validated cfg.
func newEngine(cfg Config, readerText, writerText string) (*engine, error) {
	reader, err := parseSchema(readerText)
	if err != nil {
		return nil, fmt.Errorf("codecs: reader schema: %w", err)
	}
	we := compile(writerText, reader)
	if we.planErr != nil {
		return nil, fmt.Errorf("codecs: writer schema: %w", we.planErr)
	}
	cfg.Defaults()
	return &engine{
		client:       cfg.registry(),
		subject:      cfg.Subject,
		checkSubject: !cfg.SkipSubjectCheck,
		lookupOnly:   cfg.LookupOnly,
		unknownTTL:   cfg.UnknownIDTTL,
		maxBytes:     cfg.MaxRecordBytes,
		reader:       reader,
		writerText:   writerText,
		writerEntry:  we,
		ids:          map[int]*writerEntry{},
		negative:     map[int]negEntry{},
	}, nil
}

// newGoavroCodec builds a goavro codec, turning a panic inside goavro (it
// type-asserts some schema attributes unchecked) into an error.
func newGoavroCodec(text string) (c *goavro.Codec, err error) {
	defer func() {
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("goavro panicked on the schema: %v", p)
		}
	}()
	return goavro.NewCodec(text)
}

// registryCode returns the registry's error code, or 0 when err is not a
// registry error response (a transport failure, for example).
func registryCode(err error) int {
	var se srclient.Error // srclient returns the value type, not a pointer
	if errors.As(err, &se) {
		return se.Code
	}
	var sp *srclient.Error
	if errors.As(err, &sp) && sp != nil {
		return sp.Code
	}
	return 0
}

// call runs a blocking srclient call, returning early when ctx is done
// (srclient takes no context; its HTTP client times out on its own).
func call[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx == nil || ctx.Done() == nil {
		return f()
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// id returns the writer schema id, resolving it on first use.
func (e *engine) id(ctx context.Context) (int, error) {
	if id := e.writerID.Load(); id != 0 {
		return int(id), nil
	}
	e.resolveMu.Lock()
	defer e.resolveMu.Unlock()
	if id := e.writerID.Load(); id != 0 {
		return int(id), nil
	}
	s, err := call(ctx, func() (*srclient.Schema, error) {
		return e.client.LookupSchema(e.subject, e.writerText, srclient.Avro)
	})
	if err != nil {
		code := registryCode(err)
		notFound := code == 40401 || code == 40403
		if notFound && e.lookupOnly {
			return 0, fmt.Errorf("%w %s", ErrNotRegistered, e.subject)
		}
		if !notFound {
			return 0, e.registryErr("look up writer schema", -1, err, code)
		}
		s, err = call(ctx, func() (*srclient.Schema, error) {
			return e.client.CreateSchema(e.subject, e.writerText, srclient.Avro)
		})
		if err != nil {
			return 0, e.registryErr("register writer schema", -1, err, registryCode(err))
		}
	}
	if s == nil || s.ID() <= 0 {
		return 0, fmt.Errorf("codecs: registry returned no id for the writer schema under %s", e.subject)
	}
	// Our own id decodes without a round trip.
	e.mu.Lock()
	e.ids[s.ID()] = e.writerEntry
	e.mu.Unlock()
	e.writerID.Store(int64(s.ID()))
	return s.ID(), nil
}

// registryErr classifies a failed registry call: registry answers that are
// about the request (4xx other than the ones handled by callers) are plain
// errors; everything else (transport errors, 5xx, context) is retryable.
func (e *engine) registryErr(op string, id int, err error, code int) error {
	switch {
	case code == 401 || code == 403 || authStatus(err):
		return fmt.Errorf("%w: %s under %s: %w", ErrRegistryAuth, op, e.subject, err)
	case code == 409:
		return fmt.Errorf("codecs: %s under %s: incompatible with the subject: %w", op, e.subject, err)
	case code == 42201:
		return fmt.Errorf("codecs: %s under %s: invalid schema: %w", op, e.subject, err)
	}
	return &UnavailableError{Op: op, SchemaID: id, Subject: e.subject, Err: err}
}

// authStatus reports a registry answer without a JSON body (a proxy's)
// whose HTTP status is 401 or 403: srclient reports it as the status text.
func authStatus(err error) bool {
	if err == nil || registryCode(err) != 0 {
		return false
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "401 ") || strings.HasPrefix(msg, "403 ")
}

func (e *engine) reject(reason Reason, id int, detail string, err error) *RejectError {
	return &RejectError{Reason: reason, SchemaID: id, Subject: e.subject, Detail: detail, Err: err}
}

// header returns a new payload buffer holding the Confluent header with
// the writer id, room left for a record of the pipeline's size.
func (e *engine) header() ([]byte, error) {
	id, err := e.id(context.Background())
	if err != nil {
		return nil, err
	}
	return AppendHeader(make([]byte, 0, 160), id), nil
}

// encode frames an Avro record (goavro native form) with the writer id.
func (e *engine) encode(native map[string]any) ([]byte, error) {
	buf, err := e.header()
	if err != nil {
		return nil, err
	}
	buf, err = e.writerEntry.codec.BinaryFromNative(buf, native)
	if err != nil {
		return nil, fmt.Errorf("codecs: encode: %w", err)
	}
	return buf, nil
}

// entry returns the cached entry for id, fetching it from the registry on
// first sight.
func (e *engine) entry(id int) (*writerEntry, error) {
	e.mu.RLock()
	w := e.ids[id]
	neg, isNeg := e.negative[id]
	e.mu.RUnlock()
	if w != nil {
		return w, nil
	}
	if id < 1 {
		return nil, e.reject(ReasonUnknownSchemaID, id, "schema ids start at 1", nil)
	}
	if isNeg && time.Now().Before(neg.until) {
		return nil, e.reject(neg.reason, id, neg.detail+" (cached)", nil)
	}
	e.fetchMu.Lock()
	defer e.fetchMu.Unlock()
	e.mu.RLock()
	w = e.ids[id]
	e.mu.RUnlock()
	if w != nil {
		return w, nil
	}
	return e.fetch(id)
}

// fetch asks the registry about a never-seen id: its schema and, unless
// disabled, the subjects it is registered under. Called with fetchMu held.
func (e *engine) fetch(id int) (*writerEntry, error) {
	s, err := e.client.GetSchema(id)
	if err != nil {
		if code := registryCode(err); code == 40403 {
			return nil, e.negate(id, ReasonUnknownSchemaID, "registry does not know this id", err)
		}
		return nil, &UnavailableError{Op: "get schema", SchemaID: id, Subject: e.subject, Err: err}
	}
	if s == nil {
		return nil, &UnavailableError{Op: "get schema", SchemaID: id, Subject: e.subject, Err: errors.New("empty answer")}
	}
	if e.checkSubject {
		versions, err := e.client.GetSubjectVersionsById(id)
		if err != nil {
			if code := registryCode(err); code == 40403 {
				return nil, e.negate(id, ReasonUnknownSchemaID, "registry does not know this id", err)
			}
			return nil, &UnavailableError{Op: "get subjects of schema", SchemaID: id, Subject: e.subject, Err: err}
		}
		found := false
		var subjects []string
		for _, v := range versions {
			subjects = append(subjects, v.Subject)
			if v.Subject == e.subject {
				found = true
			}
		}
		if !found {
			// The id may be registered under the subject later, so the
			// verdict expires like an unknown id's.
			return nil, e.negate(id, ReasonWrongSubject, fmt.Sprintf("registered under %v, not %s", subjects, e.subject), nil)
		}
	}
	w := &writerEntry{}
	if t := s.SchemaType(); t != nil && *t != "" && *t != srclient.Avro {
		w.planErr = fmt.Errorf("schema id %d is %s, not Avro", id, *t)
		e.store(id, w)
		return w, nil
	}
	w = compile(s.Schema(), e.reader)
	e.store(id, w)
	return w, nil
}

// compile builds the cache entry of a writer schema: its goavro codec, its
// resolution plan onto the reader and, for a flat record, its direct plan;
// or why there can be none.
func compile(text string, reader *avroType) *writerEntry {
	w := &writerEntry{}
	codec, err := newGoavroCodec(text)
	if err != nil {
		w.planErr = err
		return w
	}
	wt, err := parseSchema(text)
	if err != nil {
		w.planErr = err
		return w
	}
	p, err := newPlan(wt, reader)
	if err != nil {
		w.planErr = err
		return w
	}
	w.codec, w.plan, w.direct = codec, p, newDirectPlan(wt, reader, p)
	if hasCollections(wt) {
		w.guard = wt
	}
	return w
}

func (e *engine) store(id int, w *writerEntry) {
	e.mu.Lock()
	e.ids[id] = w
	delete(e.negative, id)
	e.mu.Unlock()
}

// negate caches a registry-dependent rejection for unknownTTL and returns it.
func (e *engine) negate(id int, reason Reason, detail string, err error) *RejectError {
	e.mu.Lock()
	e.negative[id] = negEntry{until: time.Now().Add(e.unknownTTL), reason: reason, detail: detail}
	e.mu.Unlock()
	return e.reject(reason, id, detail, err)
}

// writer checks the framing of b and returns its schema id (-1 when b has
// none) and the cache entry of the id's writer schema, when the body can be
// read with it.
func (e *engine) writer(b []byte) (int, *writerEntry, error) {
	switch {
	case len(b) == 0:
		return -1, nil, e.reject(ReasonEmpty, -1, "empty payload", nil)
	case e.maxBytes > 0 && len(b) > e.maxBytes:
		id, ok := SchemaID(b)
		if !ok {
			id = -1
		}
		return id, nil, e.reject(ReasonOversized, id, fmt.Sprintf("%d bytes, more than the %d allowed", len(b), e.maxBytes), nil)
	case b[0] != MagicByte:
		return -1, nil, e.reject(ReasonMagicByte, -1, fmt.Sprintf("first byte is 0x%02x, not 0x00", b[0]), nil)
	case len(b) < HeaderSize:
		return -1, nil, e.reject(ReasonTruncated, -1, fmt.Sprintf("%d bytes, shorter than the 5-byte header", len(b)), nil)
	}
	id, _ := SchemaID(b)
	w, err := e.entry(id)
	if err != nil {
		return id, nil, err
	}
	if w.planErr != nil {
		return id, nil, e.reject(ReasonIncompatibleSchema, id, w.planErr.Error(), w.planErr)
	}
	if w.guard != nil {
		if _, err := guard(w.guard, b[HeaderSize:], 0); err != nil {
			return id, nil, e.bodyReject(id, err)
		}
	}
	return id, w, nil
}

// bodyReject classifies an error decoding an Avro body: truncated when it
// ran out of bytes, else malformed.
func (e *engine) bodyReject(id int, err error) *RejectError {
	// goavro formats its errors with %s, so io.ErrShortBuffer only
	// survives as text.
	if errors.Is(err, errShort) || errors.Is(err, io.ErrShortBuffer) || strings.Contains(err.Error(), "short buffer") {
		return e.reject(ReasonTruncated, id, err.Error(), err)
	}
	return e.reject(ReasonMalformed, id, err.Error(), err)
}

// decode checks the framing of b, decodes the Avro body with the writer
// schema of its id (goavro), and resolves it into out (reader field
// order). It returns the schema id (-1 when b has none).
func (e *engine) decode(b []byte, out []any) (int, error) {
	id, w, err := e.writer(b)
	if err != nil {
		return id, err
	}
	return id, e.decodeGoavro(id, w, b[HeaderSize:], out)
}

// decodeGoavro decodes body with w's goavro codec and resolves it into out.
func (e *engine) decodeGoavro(id int, w *writerEntry, body []byte, out []any) error {
	native, rest, err := nativeFromBinary(w.codec, body)
	if err != nil {
		return e.bodyReject(id, err)
	}
	if len(rest) > 0 {
		return e.reject(ReasonTrailingBytes, id, fmt.Sprintf("%d bytes after the record", len(rest)), nil)
	}
	rec, ok := native.(map[string]any)
	if !ok {
		return e.reject(ReasonIncompatibleSchema, id, fmt.Sprintf("writer schema decodes to %T, not a record", native), nil)
	}
	if i, err := w.plan.apply(rec, out); err != nil {
		return &RejectError{Reason: ReasonIncompatibleSchema, SchemaID: id, Subject: e.subject, Field: e.reader.fields[i].name, Detail: err.Error(), Err: err}
	}
	return nil
}

// nativeFromBinary calls goavro, turning a panic into an error.
func nativeFromBinary(c *goavro.Codec, b []byte) (native any, rest []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			native, rest, err = nil, nil, fmt.Errorf("goavro panicked: %v", p)
		}
	}()
	return c.NativeFromBinary(b)
}
