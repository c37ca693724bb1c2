package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Config says where the registry listens and where it keeps its state.
type Config struct {
	// Addr is the listen address, for example "127.0.0.1:8081"; port 0
	// picks a free port (see Server.URL). Empty means "127.0.0.1:8081".
	Addr string
	// KafkaOpts says how to reach Kafka (seed brokers, SASL, TLS). The
	// registry adds its own producer and consumer options after them.
	KafkaOpts []kgo.Opt
	// Topic holds the registry's state. Empty means "_schemas".
	Topic string
	// Username and Password turn on HTTP basic auth when either is set.
	Username, Password string
	// Logger receives one info line per change (register, delete, config)
	// and warnings; nil discards them.
	Logger *slog.Logger
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Addr == "" {
		c.Addr = defaultAddr
	}
	if c.Topic == "" {
		c.Topic = defaultTopic
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is a running registry.
type Server struct {
	cfg    Config
	log    *slog.Logger
	cl     *kgo.Client
	ln     net.Listener
	srv    *http.Server
	served chan struct{}

	authOn         bool
	userSum, pwSum [32]byte

	sem    chan struct{} // the write lock: validate, produce, apply
	closed chan struct{}
	mu     sync.RWMutex // guards st against readers; writers hold sem too
	st     *state

	closeOnce sync.Once
	closeErr  error
}

const (
	defaultAddr  = "127.0.0.1:8081"
	defaultTopic = "_schemas"
	// startTimeout bounds Start when its context has no deadline.
	startTimeout = 2 * time.Minute
	// writeTimeout bounds one write to Kafka.
	writeTimeout = 30 * time.Second
)

// Start creates the topic if it is missing, replays it to its end, then
// serves HTTP until Close. ctx bounds the start only (when it has no
// deadline, two minutes do); it does not stop the server.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg.Defaults()
	log := cfg.Logger
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}

	opts := append(append([]kgo.Opt(nil), cfg.KafkaOpts...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(writeTimeout),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry: kafka client: %w", err)
	}
	s := &Server{
		cfg:    cfg,
		log:    log,
		cl:     cl,
		st:     newState(),
		served: make(chan struct{}),
		sem:    make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	if cfg.Username != "" || cfg.Password != "" {
		s.authOn = true
		s.userSum = sha256.Sum256([]byte(cfg.Username))
		s.pwSum = sha256.Sum256([]byte(cfg.Password))
	}
	fail := func(err error) (*Server, error) {
		cl.Close()
		return nil, err
	}
	if err := s.ensureTopic(ctx); err != nil {
		return fail(err)
	}
	n, err := s.replay(ctx)
	if err != nil {
		return fail(err)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fail(fmt.Errorf("registry: listen on %s: %w", cfg.Addr, err))
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("registry: http server stopped", "err", err)
		}
	}()
	s.mu.RLock()
	subjects, ids := len(s.st.subjects), len(s.st.ids)
	s.mu.RUnlock()
	log.Info("registry: serving", "url", s.URL(), "topic", cfg.Topic,
		"records", n, "subjects", subjects, "schemas", ids)
	return s, nil
}

// URL is the registry's base URL, "http://host:port". When listening on
// all interfaces, the host is the loopback address.
func (s *Server) URL() string {
	addr := s.ln.Addr().String()
	if ta, ok := s.ln.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		host := "127.0.0.1"
		if ta.IP.To4() == nil {
			host = "::1"
		}
		addr = net.JoinHostPort(host, strconv.Itoa(ta.Port))
	}
	return "http://" + addr
}

// Handler serves the REST API, for mounting in another server. It is the
// same handler Start serves, auth included.
func (s *Server) Handler() http.Handler { return s }

// Close stops serving (waiting for requests in flight until ctx is done)
// and closes the Kafka client, failing a write still pending. It is safe to
// call more than once. A Handler still mounted elsewhere keeps answering
// reads from memory and refuses writes.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = fmt.Errorf("registry: shutdown: %w", err)
			_ = s.srv.Close()
		}
		<-s.served
		s.cl.Close()
		// Wait for a write settling in the background: the closed client
		// fails it.
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			if s.closeErr == nil {
				s.closeErr = fmt.Errorf("registry: close: waiting for a pending write: %w", ctx.Err())
			}
		}
	})
	return s.closeErr
}

// ensureTopic creates the topic as Confluent wants it, or checks that the
// existing one has a single partition and is compacted: with more
// partitions the order of changes is lost, and with deletion the schemas
// would expire.
func (s *Server) ensureTopic(ctx context.Context) error {
	adm := kadm.NewClient(s.cl)
	topic := s.cfg.Topic
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("registry: list topic %s: %w", topic, err)
	}
	d, ok := details[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		resp, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("registry: create topic %s: %w", topic, err)
		}
		if err == nil {
			s.log.Info("registry: created topic", "topic", topic)
			return nil
		}
		if details, err = adm.ListTopics(ctx, topic); err != nil {
			return fmt.Errorf("registry: list topic %s: %w", topic, err)
		}
		d = details[topic]
	}
	if d.Err != nil {
		return fmt.Errorf("registry: topic %s: %w", topic, d.Err)
	}
	if n := len(d.Partitions); n != 1 {
		return fmt.Errorf("registry: topic %s has %d partitions; it must have exactly 1 so changes stay in order", topic, n)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("registry: describe topic %s: %w", topic, err)
	}
	rc, err := cfgs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return fmt.Errorf("registry: describe topic %s: %w", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && *c.Value != "compact" {
			return fmt.Errorf("registry: topic %s has cleanup.policy=%s; it must be compact or schemas expire", topic, *c.Value)
		}
	}
	return nil
}

// replay rebuilds the state from the topic. It first writes a NOOP record,
// as Confluent does, so that reading up to that record's offset means
// reading everything written before the start, whatever compaction or
// control records left at the end of the log.
func (s *Server) replay(ctx context.Context) (int, error) {
	res := s.cl.ProduceSync(ctx, &kgo.Record{Key: noopKeyBytes(), Partition: 0})
	noop, err := res.First()
	if err != nil {
		return 0, fmt.Errorf("registry: write to topic %s: %w", s.cfg.Topic, err)
	}
	opts := append(append([]kgo.Opt(nil), s.cfg.KafkaOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			s.cfg.Topic: {0: kgo.NewOffset().AtStart()},
		}),
	)
	cons, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("registry: kafka consumer: %w", err)
	}
	defer cons.Close()
	n := 0
	for {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("registry: read topic %s (at %d records): %w", s.cfg.Topic, n, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("registry: read topic %s: %w", t, err)
			}
		})
		if ferr != nil {
			return n, ferr
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if done {
				return
			}
			n++
			if err := s.st.apply(r.Key, r.Value); err != nil && !errors.Is(err, errSkip) {
				s.log.Warn("registry: skipped record", "offset", r.Offset, "err", err)
			}
			if r.Offset >= noop.Offset {
				done = true
			}
		})
		if done {
			return n, nil
		}
	}
}

// produce writes records to the topic and waits for the acknowledgement of
// each; it returns the records that were written, in order, and the first
// error.
func (s *Server) produce(ctx context.Context, recs ...*kgo.Record) ([]*kgo.Record, error) {
	for _, r := range recs {
		r.Partition = 0
	}
	results := s.cl.ProduceSync(ctx, recs...)
	var ok []*kgo.Record
	var first error
	for _, r := range results {
		if r.Err != nil {
			if first == nil {
				first = r.Err
			}
			continue
		}
		ok = append(ok, r.Record)
	}
	return ok, first
}

// commit applies acknowledged records to the in-memory state.
func (s *Server) commit(recs []*kgo.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if err := s.st.apply(r.Key, r.Value); err != nil && !errors.Is(err, errSkip) {
			s.log.Error("registry: applying own record", "err", err)
		}
	}
}
