package producer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
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
	clock := cfg.Clock
	if clock == nil {
		clock = wallClock{}
	}
	start := clock.Now()
	sum = Summary{Injected: map[Injection]int64{}}
	// Every return says how long it took, failures included.
	defer func() { sum.Elapsed = clock.Now().Sub(start) }()
	full, err := cfg.prepared(start)
	if err != nil {
		return sum, err
	}
	codec := full.Codec
	if codec == nil {
		codec, err = codecs.NewReadingCodec(codecs.ReadingConfig{
			Config: codecs.Config{RegistryURL: full.RegistryURL, Client: full.RegistryClient,
				Subject: full.Subject, LookupOnly: full.LookupOnly},
			WriterVersion: full.SchemaVersion,
		})
		if err != nil {
			return sum, fmt.Errorf("producer: %w", err)
		}
	}
	if sum.SchemaID, err = codec.Prepare(ctx); err != nil {
		return sum, fmt.Errorf("producer: writer schema: %w", err)
	}
	stream, err := NewStream(cfg, codec, start, full.Logger)
	if err != nil {
		return sum, err
	}
	cl := full.Client
	if cl == nil {
		if len(full.KafkaOpts) == 0 {
			return sum, errors.New("producer: Client or KafkaOpts is required")
		}
		if cl, err = kgo.NewClient(ClientOpts(full.KafkaOpts...)...); err != nil {
			return sum, fmt.Errorf("producer: kafka client: %w", err)
		}
		defer cl.Close()
	}
	if err := waitForKafka(ctx, cl, full.ConnectTimeout, full.Logger); err != nil {
		if ctx.Err() != nil {
			sum.Stopped = true
			return sum, nil
		}
		return sum, err
	}
	if full.Prepare != nil {
		if err := full.Prepare(ctx, cl); err != nil {
			if ctx.Err() != nil {
				sum.Stopped = true
				return sum, nil
			}
			return sum, err
		}
	}
	if full.Resume && full.Source == SourceSynthetic {
		if stream, err = resume(ctx, cfg, full, codec, start, &sum); err != nil {
			if ctx.Err() != nil {
				sum.Stopped = true
				return sum, nil
			}
			return sum, err
		}
	}
	if full.Logger != nil {
		full.Logger.Info("producer: start", "source", full.Source, "topic", full.Topic, "subject", full.Subject,
			"schema_id", sum.SchemaID, "schema_version", full.SchemaVersion, "speed", full.Speed, "rate", full.Rate, "limit", full.Limit)
	}

	// Records live on past ctx so that a stopped run still delivers what it
	// buffered: their context ends 30 s after ctx does.
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer pcancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(30*time.Second, pcancel) })
	defer stopGrace()

	bar := newBar(full, stream.Total())
	var mu sync.Mutex // guards sum and firstErr from the produce callbacks
	var firstErr error
	var fatal atomic.Bool // a failure every later record would share
	var wg sync.WaitGroup
	pace := pacer{clock: clock, speed: full.Speed, rate: full.Rate, wallStart: start, origin: stream.Origin(),
		notAhead: full.Source == SourceSynthetic}
	var n int64
	for full.Limit == 0 || n < full.Limit {
		if fatal.Load() {
			break
		}
		rec, err := stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			wg.Wait()
			return sum, err
		}
		if err := pace.wait(ctx, rec.Arrival); err != nil {
			break // ctx done
		}
		kr := &kgo.Record{Topic: full.Topic, Key: rec.Key, Value: rec.Value}
		if rec.Injected != InjectNone {
			kr.Headers = []kgo.RecordHeader{{Key: InjectedHeader, Value: []byte(rec.Injected)}}
		}
		if full.EventTimeAsRecordTime && !rec.EventTime.IsZero() {
			kr.Timestamp = rec.EventTime
		}
		injected, event := rec.Injected, rec.EventTime
		wg.Add(1)
		cl.Produce(pctx, kr, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				sum.Failed++
				if firstErr == nil {
					firstErr = err
				}
				if fatalDelivery(err) && !fatal.Swap(true) {
					// The records still buffered would only fail the same
					// way, after the client's retries: fail them now.
					pcancel()
				}
				return
			}
			sum.Sent++
			sum.Bytes += int64(len(r.Key) + len(r.Value))
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
			if bar != nil {
				_ = bar.Add(1)
			}
		})
		n++
		if ctx.Err() != nil {
			break
		}
	}
	stopped := ctx.Err() != nil
	flushErr := cl.Flush(pctx)
	wg.Wait()
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(full.ProgressWriter)
	}
	mu.Lock()
	defer mu.Unlock()
	sum.Stopped = stopped
	sum.Elapsed = clock.Now().Sub(start)
	if full.Logger != nil {
		full.Logger.Info("producer: done", "sent", sum.Sent, "failed", sum.Failed, "bytes", sum.Bytes,
			"elapsed", sum.Elapsed, "stopped", stopped)
	}
	if sum.Failed > 0 {
		return sum, &DeliveryError{Topic: full.Topic, Failed: sum.Failed, Err: firstErr}
	}
	if flushErr != nil {
		return sum, fmt.Errorf("producer: flush: %w", flushErr)
	}
	return sum, nil
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
