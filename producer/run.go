package producer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"golang.org/x/term"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

// Clock is the time source of the pacing.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ClientOpts returns the options Run builds its client with: goka's
// partitioner (schemas.Partitioner, so keys land where goka looks for them)
// followed by opts (so a later kgo.RecordPartitioner in opts would win).
func ClientOpts(opts ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{kgo.RecordPartitioner(schemas.Partitioner())}, opts...)
}

// Summary is the outcome of Run.
type Summary struct {
	Sent   int64 // records acknowledged by the broker
	Failed int64 // records the broker did not take
	Bytes  int64 // key and value bytes of the acknowledged records
	// Injected counts the acknowledged records by injection (late,
	// duplicate, bad-*).
	Injected map[Injection]int64
	SchemaID int // writer schema id
	// FirstEvent and LastEvent bound the event times sent.
	FirstEvent, LastEvent time.Time
	Elapsed               time.Duration
	// Stopped is true when ctx ended the run before the source did.
	Stopped bool
	// ResumedAfter is the newest event time found on the topic with
	// Config.Resume (zero: none, or no Resume); ResumedDevices how many of
	// the stream's devices continued from their last registers.
	ResumedAfter   time.Time
	ResumedDevices int
	// EndDeclared is true when Config.EndGroup holds this run's ends.
	EndDeclared bool
}

// DeliveryError reports records the broker did not acknowledge.
type DeliveryError struct {
	Topic  string
	Failed int64
	Err    error // the first failure
}

func (e *DeliveryError) Error() string {
	if e.MissingTopic() {
		return fmt.Sprintf("producer: topic %s does not exist: %d records not delivered (%v)", e.Topic, e.Failed, e.Err)
	}
	return fmt.Sprintf("producer: %d records not delivered to %s; first: %v", e.Failed, e.Topic, e.Err)
}

// MissingTopic reports whether the records failed because the topic does
// not exist.
func (e *DeliveryError) MissingTopic() bool { return errors.Is(e.Err, kerr.UnknownTopicOrPartition) }

// fatalDelivery reports produce errors that will fail every later record
// too: the run stops at the first one instead of sending the rest into it.
func fatalDelivery(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.TopicAuthorizationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Run produces cfg's stream to Kafka until the source ends, Limit is
// reached, or ctx is done (then it returns the summary and a nil error,
// with Summary.Stopped set). Records still buffered are flushed (for up to
// 30 s after ctx is done) and counted. Undelivered records make Run return
// a *DeliveryError with the summary; a failure every later record would
// share (the topic does not exist, writing is not authorized) ends the run
// at once.
func Run(ctx context.Context, cfg Config) (sum Summary, err error) {
	r := &run{cfg: cfg, clock: cfg.Clock, sum: Summary{Injected: map[Injection]int64{}}}
	if r.clock == nil {
		r.clock = wallClock{}
	}
	r.start = r.clock.Now()
	// Every return says how long it took, failures included.
	defer func() { sum.Elapsed = r.clock.Now().Sub(r.start) }()
	if err := r.setup(ctx); err != nil {
		return r.sum, err
	}
	cl, closeClient, err := r.client()
	if err != nil {
		return r.sum, err
	}
	defer closeClient()
	if err := r.ready(ctx, cl); err != nil {
		if ctx.Err() != nil {
			r.sum.Stopped = true
			return r.sum, nil
		}
		return r.sum, err
	}
	if r.full.Logger != nil {
		r.full.Logger.Info("producer: start", "source", r.full.Source, "topic", r.full.Topic, "subject", r.full.Subject,
			"schema_id", r.sum.SchemaID, "schema_version", r.full.SchemaVersion, "speed", r.full.Speed, "rate", r.full.Rate, "limit", r.full.Limit)
	}
	return r.produce(ctx, cl)
}

// run is one call of Run, in steps: setup (the configuration, codec and
// stream), client, ready (Kafka answers, Config.Prepare, Config.Resume),
// produce (paced sends, each acknowledged in delivered, then the flush).
type run struct {
	cfg   Config // as given (a resumed stream is rebuilt from it)
	full  Config // with its defaults (Config.prepared)
	clock Clock
	start time.Time

	codec  *codecs.ReadingCodec
	stream *Stream
	bar    *progressbar.ProgressBar // nil: no progress bar

	mu       sync.Mutex // guards sum and firstErr from the produce callbacks
	sum      Summary
	firstErr error
	ends     map[int32]int64 // with Config.EndGroup: per partition written, the offset after its last acknowledged record
	fatal    atomic.Bool     // a failure every later record would share
	inflight sync.WaitGroup  // records produced whose callback has not run
	// failBuffered ends the records' context: those still buffered fail.
	failBuffered context.CancelFunc
}

// setup fills in the configuration's defaults, prepares the writer schema
// and builds the stream.
func (r *run) setup(ctx context.Context) error {
	full, err := r.cfg.prepared(r.start)
	if err != nil {
		return err
	}
	r.full = full
	r.codec = full.Codec
	if r.codec == nil {
		r.codec, err = codecs.NewReadingCodec(codecs.ReadingConfig{
			Config: codecs.Config{RegistryURL: full.RegistryURL, Client: full.RegistryClient,
				Subject: full.Subject, LookupOnly: full.LookupOnly},
			WriterVersion: full.SchemaVersion,
		})
		if err != nil {
			return fmt.Errorf("producer: %w", err)
		}
	}
	if r.sum.SchemaID, err = r.codec.Prepare(ctx); err != nil {
		return fmt.Errorf("producer: writer schema: %w", err)
	}
	r.stream, err = NewStream(r.cfg, r.codec, r.start, full.Logger)
	return err
}

// client returns the Kafka client (Config.Client, or one of its own from
// KafkaOpts) and what closes it when the run is over.
func (r *run) client() (*kgo.Client, func(), error) {
	if r.full.Client != nil {
		return r.full.Client, func() {}, nil
	}
	if len(r.full.KafkaOpts) == 0 {
		return nil, nil, errors.New("producer: Client or KafkaOpts is required")
	}
	cl, err := kgo.NewClient(ClientOpts(r.full.KafkaOpts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("producer: kafka client: %w", err)
	}
	return cl, cl.Close, nil
}

// ready waits for Kafka to answer, runs Config.Prepare, and with
// Config.Resume rebuilds a synthetic stream to continue after what its
// topic holds.
func (r *run) ready(ctx context.Context, cl *kgo.Client) error {
	if err := waitForKafka(ctx, cl, r.full.ConnectTimeout, r.full.Logger); err != nil {
		return err
	}
	if r.full.Prepare != nil {
		if err := r.full.Prepare(ctx, cl); err != nil {
			return err
		}
	}
	if r.full.Resume && r.full.Source == SourceSynthetic {
		stream, err := resume(ctx, r.cfg, r.full, r.codec, r.start, &r.sum)
		if err != nil {
			return err
		}
		r.stream = stream
	}
	return nil
}

// produce sends the stream, paced, until it ends, Limit is reached, ctx is
// done or a delivery fails for good; then flushes and sums up.
func (r *run) produce(ctx context.Context, cl *kgo.Client) (Summary, error) {
	// Records live on past ctx so that a stopped run still delivers what it
	// buffered: their context ends 30 s after ctx does.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	r.failBuffered = pcancel
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(30*time.Second, pcancel) })
	defer stopGrace()

	r.bar = newBar(r.full, r.stream.Total())
	pace := pacer{clock: r.clock, speed: r.full.Speed, rate: r.full.Rate, wallStart: r.start, origin: r.stream.Origin(),
		notAhead: r.full.Source == SourceSynthetic}
	for n := int64(0); (r.full.Limit == 0 || n < r.full.Limit) && !r.fatal.Load(); n++ {
		rec, err := r.stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			r.inflight.Wait()
			return r.sum, err
		}
		if err := pace.wait(ctx, rec.Arrival); err != nil {
			break // ctx done
		}
		injected, event := rec.Injected, rec.EventTime
		r.inflight.Add(1)
		cl.Produce(pctx, r.record(rec), func(kr *kgo.Record, err error) { r.delivered(kr, err, injected, event) })
		if ctx.Err() != nil {
			break
		}
	}
	stopped := ctx.Err() != nil
	flushErr := cl.Flush(pctx)
	r.inflight.Wait()
	if !stopped && flushErr == nil && !r.fatal.Load() {
		r.declareEnd(ctx, cl)
	}
	return r.finish(stopped, flushErr)
}

// declareEnd commits the offsets after the records this run wrote to
// Config.EndGroup (see there), unless a record was lost.
func (r *run) declareEnd(ctx context.Context, cl *kgo.Client) {
	if r.full.EndGroup == "" {
		return
	}
	r.mu.Lock()
	failed, ends := r.sum.Failed, maps.Clone(r.ends)
	r.mu.Unlock()
	if failed > 0 || len(ends) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	// A partition this run did not write is declared only while it is
	// empty: its records, if any, are another producer's to declare.
	listed, err := adm.ListEndOffsets(cctx, r.full.Topic)
	if err == nil {
		err = listed.Error()
	}
	var resp kadm.OffsetResponses
	if err == nil {
		var offs kadm.Offsets
		listed.Each(func(o kadm.ListedOffset) {
			if end, ok := ends[o.Partition]; ok {
				offs.Add(kadm.Offset{Topic: r.full.Topic, Partition: o.Partition, At: end, LeaderEpoch: -1})
			} else if o.Offset == 0 {
				offs.Add(kadm.Offset{Topic: r.full.Topic, Partition: o.Partition, At: 0, LeaderEpoch: -1})
			}
		})
		resp, err = adm.CommitOffsets(cctx, r.full.EndGroup, offs)
		if err == nil {
			err = resp.Error()
		}
	}
	if err != nil {
		if r.full.Logger != nil {
			r.full.Logger.Warn("producer: could not declare the end of the input; the pipeline closes the last windows after its idle timeout",
				"group", r.full.EndGroup, "err", err)
		}
		return
	}
	r.mu.Lock()
	r.sum.EndDeclared = true
	r.mu.Unlock()
	if r.full.Logger != nil {
		r.full.Logger.Info("producer: declared the end of the input", "group", r.full.EndGroup, "partitions", len(ends))
	}
}

// record is the Kafka record of rec.
func (r *run) record(rec Record) *kgo.Record {
	kr := &kgo.Record{Topic: r.full.Topic, Key: rec.Key, Value: rec.Value}
	if rec.Injected != InjectNone {
		kr.Headers = []kgo.RecordHeader{{Key: InjectedHeader, Value: []byte(rec.Injected)}}
	}
	if r.full.EventTimeAsRecordTime && !rec.EventTime.IsZero() {
		kr.Timestamp = rec.EventTime
	}
	return kr
}

// delivered counts one record's outcome (the produce callback): sent, its
// bytes, injection and event time, or failed. A failure every later record
// would share fails the records still buffered at once.
func (r *run) delivered(kr *kgo.Record, err error, injected Injection, event time.Time) {
	defer r.inflight.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := &r.sum
	if err != nil {
		sum.Failed++
		if r.firstErr == nil {
			r.firstErr = err
		}
		if fatalDelivery(err) && !r.fatal.Swap(true) {
			// The records still buffered would only fail the same way,
			// after the client's retries: fail them now.
			r.failBuffered()
		}
		return
	}
	sum.Sent++
	sum.Bytes += int64(len(kr.Key) + len(kr.Value))
	if r.full.EndGroup != "" { // only a run that declares its end needs them
		if r.ends == nil {
			r.ends = map[int32]int64{}
		}
		r.ends[kr.Partition] = max(r.ends[kr.Partition], kr.Offset+1)
	}
	if injected != InjectNone {
		sum.Injected[injected]++
	}
	if !event.IsZero() {
		if sum.FirstEvent.IsZero() || event.Before(sum.FirstEvent) {
			sum.FirstEvent = event
		}
		if event.After(sum.LastEvent) {
			sum.LastEvent = event
		}
	}
	if r.bar != nil {
		_ = r.bar.Add(1)
	}
}

// finish closes the progress bar, logs the summary and returns it with
// the run's error: undelivered records, else a failed flush.
func (r *run) finish(stopped bool, flushErr error) (Summary, error) {
	if r.bar != nil {
		_ = r.bar.Finish()
		fmt.Fprintln(r.full.ProgressWriter)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := &r.sum
	sum.Stopped = stopped
	sum.Elapsed = r.clock.Now().Sub(r.start)
	if r.full.Logger != nil {
		r.full.Logger.Info("producer: done", "sent", sum.Sent, "failed", sum.Failed, "bytes", sum.Bytes,
			"elapsed", sum.Elapsed, "stopped", stopped)
	}
	if sum.Failed > 0 {
		return *sum, &DeliveryError{Topic: r.full.Topic, Failed: sum.Failed, Err: r.firstErr}
	}
	if flushErr != nil {
		return *sum, fmt.Errorf("producer: flush: %w", flushErr)
	}
	return *sum, nil
}

// pacer maps stream time to wall time (Speed) and spaces records (Rate).
type pacer struct {
	clock     Clock
	speed     float64
	rate      float64
	wallStart time.Time
	origin    time.Time
	next      time.Time // earliest wall time of the next record under Rate
	// notAhead: a record is not sent before the wall clock reaches its
	// stream time (a synthetic stream faster than real time continues in
	// real time once it has caught up with the present, instead of
	// producing readings from the future).
	notAhead bool
}

func (p *pacer) wait(ctx context.Context, arrival time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var target time.Time
	if p.speed > 0 && !p.origin.IsZero() {
		lead := float64(arrival.Sub(p.origin)) / p.speed
		target = p.wallStart.Add(time.Duration(lead))
	}
	if p.rate > 0 {
		if target.Before(p.next) {
			target = p.next
		}
		now := p.clock.Now()
		if target.IsZero() || target.Before(now) {
			p.next = now.Add(time.Duration(float64(time.Second) / p.rate))
		} else {
			p.next = target.Add(time.Duration(float64(time.Second) / p.rate))
		}
	}
	if p.notAhead && arrival.After(target) {
		target = arrival
	}
	if target.IsZero() {
		return nil
	}
	if d := target.Sub(p.clock.Now()); d > 0 {
		return p.clock.Sleep(ctx, d)
	}
	return nil
}

// newBar returns a progress bar when cfg asks for one: with rate and ETA for
// a finite stream, a spinner with the rate for an endless one.
func newBar(c Config, total int64) *progressbar.ProgressBar {
	w := c.ProgressWriter
	switch c.Progress {
	case ProgressOff:
		return nil
	case ProgressAuto:
		f, ok := w.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil
		}
	}
	if total == 0 {
		total = -1
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("producing "+string(c.Source)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rec"),
		progressbar.OptionSetPredictTime(total > 0),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
	)
}

// waitForKafka pings the cluster until it answers, for up to timeout, so
// that a producer that cannot reach Kafka or is refused says so instead of
// buffering records forever. Errors that waiting cannot fix fail at once.
// The error says what the last failure looks like (see connectError).
func waitForKafka(ctx context.Context, cl *kgo.Client, timeout time.Duration, log *slog.Logger) error {
	start := time.Now()
	deadline := start.Add(timeout)
	backoff := 250 * time.Millisecond
	for {
		// No attempt outlives the deadline by much (a dial into a black
		// hole would otherwise take the client's whole dial timeout).
		pctx, cancel := context.WithTimeout(ctx, max(time.Until(deadline), time.Second))
		err := cl.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case permanentKafkaError(err):
			return fmt.Errorf("producer: kafka refused the connection (check security.protocol, ssl.ca.location and the SASL settings): %w", err)
		case !time.Now().Before(deadline):
			return connectError(cl, err, time.Since(start))
		}
		if log != nil {
			log.Warn("producer: waiting for kafka", "err", err, "retry_in", backoff)
		}
		t := time.NewTimer(min(backoff, max(time.Until(deadline), 0)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// connectError says why Kafka did not answer for waited, with the hint
// that fits the last failure: nothing listens at the address (or the name
// does not resolve), so check the address; or the broker closed the
// connection, which with SASL is how a wrong user or password looks to a
// client; or it did not answer at all.
func connectError(cl *kgo.Client, err error, waited time.Duration) error {
	addr := strings.Join(seedBrokers(cl), ",")
	var (
		op  *net.OpError
		dns *net.DNSError
	)
	waited = waited.Round(100 * time.Millisecond)
	switch {
	case errors.As(err, &dns):
		return fmt.Errorf("producer: cannot resolve the broker address %s (%s), tried for %v: check the bootstrap servers (--brokers, bootstrap.servers): %w", addr, dns.Name, waited, err)
	case errors.As(err, &op) && op.Op == "dial":
		if op.Addr != nil {
			addr = op.Addr.String()
		}
		return fmt.Errorf("producer: cannot reach the broker at %s, tried for %v: is it running? check the bootstrap servers (--brokers, bootstrap.servers): %w", addr, waited, err)
	case usesSASL(cl) && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return fmt.Errorf("producer: the broker at %s closed the connection during %v of tries; with SASL that is how a wrong user or password looks: check sasl.username, sasl.password and sasl.mechanism: %w", addr, waited, err)
	}
	return fmt.Errorf("producer: the broker at %s did not answer for %v: %w", addr, waited, err)
}

// seedBrokers are the addresses cl was given.
func seedBrokers(cl *kgo.Client) []string {
	if v, ok := cl.OptValue(kgo.SeedBrokers).([]string); ok {
		return v
	}
	return nil
}

// usesSASL reports whether cl authenticates with SASL.
func usesSASL(cl *kgo.Client) bool {
	v := cl.OptValue(kgo.SASL)
	if v == nil {
		return false
	}
	if s, ok := v.([]sasl.Mechanism); ok {
		return len(s) > 0
	}
	return true
}

// permanentKafkaError reports connection errors retrying cannot fix.
func permanentKafkaError(err error) bool {
	var (
		unknownCA  x509.UnknownAuthorityError
		hostname   x509.HostnameError
		invalid    x509.CertificateInvalidError
		verify     *tls.CertificateVerificationError
		header     tls.RecordHeaderError
		firstRead  *kgo.ErrFirstReadEOF
		kafkaError *kerr.Error
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify),
		errors.As(err, &header), errors.As(err, &firstRead):
		return true
	case errors.As(err, &kafkaError):
		switch kafkaError {
		case kerr.SaslAuthenticationFailed, kerr.IllegalSaslState, kerr.UnsupportedSaslMechanism,
			kerr.ClusterAuthorizationFailed, kerr.TopicAuthorizationFailed:
			return true
		}
	}
	return false
}

// resume rebuilds the synthetic stream of cfg to continue after what its
// topic holds (Config.Resume): its clock starts at the interval after the
// newest event time found, when that is later than the start it had, and
// each device found continues from its last registers.
func resume(ctx context.Context, cfg, full Config, codec *codecs.ReadingCodec, now time.Time, sum *Summary) (*Stream, error) {
	if len(full.KafkaOpts) == 0 {
		return nil, errors.New("producer: Resume needs KafkaOpts (to read the topic)")
	}
	keys, err := syntheticKeys(full.Synthetic, full.Seed)
	if err != nil {
		return nil, err
	}
	rp, err := FindResumePoint(ctx, full.KafkaOpts, full.Topic, codec, keys)
	if err != nil {
		return nil, err
	}
	start := full.Synthetic.Start
	if after := rp.Newest.Truncate(full.Synthetic.Interval).Add(full.Synthetic.Interval); !rp.Newest.IsZero() && after.After(start) {
		start = after
	}
	cfg.Synthetic.Start, cfg.Synthetic.from = start, rp.Registers
	sum.ResumedAfter, sum.ResumedDevices = rp.Newest, len(rp.Registers)
	if full.Logger != nil {
		full.Logger.Info("producer: resuming after what the topic holds", "topic", full.Topic, "newest_event_time", rp.Newest,
			"start", start, "devices_found", len(rp.Registers), "devices", len(keys), "records_read", rp.Read)
	}
	return NewStream(cfg, codec, now, full.Logger)
}
