package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/dashboard"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/httpapi"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/provision"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/status"
)

// Config configures the stack. Fields the stack wires itself (the
// connection settings of every client, per-member state directories and
// loggers) are set by Start and need not be given; zero values otherwise
// mean the defaults of the package each part comes from.
type Config struct {
	// DataDir holds the broker's log (<DataDir>/kafka, unless Broker.DataDir
	// is set) and the members' table state (<DataDir>/state, unless
	// Pipeline.State.Dir is set). Required.
	DataDir string

	// Broker configures the embedded broker (its Logger defaults to Logger).
	Broker broker.Config
	// Registry configures the embedded Schema Registry; Start sets its
	// KafkaOpts to reach the broker (its Logger defaults to Logger). Its
	// Username and Password are also what the stack's clients use.
	Registry registry.Config
	// Compression is the codec of every record batch the stack's clients
	// produce (see clientconf.Config.Compression).
	Compression string

	// Pipeline configures every member's processors. Start sets Brokers,
	// Sarama, KafkaOpts and Registry, gives member i the state directory
	// <State.Dir>/member-<i> and Logger with member=i.
	Pipeline processors.Config
	// Members is how many pipeline members run in the process (0: none;
	// members started elsewhere then do the processing).
	Members int

	// HTTPAddr is where the first member serves HTTP (dashboard, /events,
	// /metrics, /readyz, queries); the others serve on free ports of the
	// same host. Empty: no HTTP servers.
	HTTPAddr string
	// DashboardMaxClients bounds each member's open /events streams
	// (0: dashboard.HubConfig's default).
	DashboardMaxClients int

	// NoLake turns the lake-writer off.
	NoLake bool
	// LakeDir is where the lake-writer writes: a directory or a URL (see
	// datalake.Open). Required unless NoLake.
	LakeDir string
	// Lake configures the lake-writer; Start sets its KafkaOpts, Registry,
	// Store (LakeDir), its topics (Pipeline's sink topics) and Logger.
	Lake datalake.Config

	// NoProducer turns the synthetic producer off: producers outside the
	// stack then feed Pipeline.Topics.Input.
	NoProducer bool
	// Producer configures the producer; Start sets its Topic (the input
	// topic), registry, KafkaOpts, Logger and Prepare (the input topic is
	// created if missing) and turns its progress bar off.
	Producer producer.Config

	// Quiet turns the live status off.
	Quiet bool
	// StatusInterval is how often the live status is shown (0: the
	// default of status.Live).
	StatusInterval time.Duration
	// ShowStatus, when set, receives each status block instead of Stdout:
	// console.Console.SetStatus, which redraws it in place on a terminal.
	ShowStatus func(block string)

	// Command is how the banner's examples invoke turnstile (default
	// "turnstile"; make run's is ./bin/turnstile).
	Command string
	// ExampleCSV, when set, is an MTA weekly file (or excerpt) the banner
	// suggests replaying into the stack.
	ExampleCSV string

	// Stdout receives the banner, the status blocks (unless ShowStatus)
	// and the shutdown line. Default: discarded.
	Stdout io.Writer
	// Logger receives every part's logs. Default: discarded.
	Logger *slog.Logger
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Stdout == nil {
		c.Stdout = io.Discard
	}
	if c.Command == "" {
		c.Command = "turnstile"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Broker.DataDir == "" && c.DataDir != "" {
		c.Broker.DataDir = broker.DataDirFor(c.DataDir)
	}
	if c.Broker.Logger == nil {
		c.Broker.Logger = c.Logger
	}
	if c.Registry.Logger == nil {
		c.Registry.Logger = c.Logger
	}
	if c.Pipeline.State.Dir == "" && c.DataDir != "" {
		c.Pipeline.State.Dir = filepath.Join(c.DataDir, "state")
	}
	c.Pipeline.Defaults()
}

func (c *Config) validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("devstack: Config.DataDir is required")
	case c.Members < 0:
		return fmt.Errorf("devstack: %d members", c.Members)
	case !c.NoLake && c.LakeDir == "":
		return errors.New("devstack: Config.LakeDir is required unless NoLake")
	}
	return nil
}

// Stack is a running stack (see the package documentation).
type Stack struct {
	cfg Config
	log *slog.Logger

	broker   *broker.Broker
	registry *registry.Server
	admCl    *kgo.Client
	adm      *kadm.Client
	reg      *prometheus.Registry
	urls     []string

	ctx  context.Context // the parts' lifetime
	stop context.CancelFunc
	wg   sync.WaitGroup
	fail chan error // the first failure of each part
}

// Run starts the stack and waits for it: Start, then Wait.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	return s.Wait()
}

// Start starts every part (see the package documentation) and returns
// once they run; ctx is their lifetime. On an error it stops what it had
// started before returning.
func Start(ctx context.Context, cfg Config) (_ *Stack, err error) {
	cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Members > 0 {
		// Before any member joins a group (see state.CheckDir).
		if err := state.CheckDir(cfg.Pipeline.State.Dir); err != nil {
			return nil, fmt.Errorf("devstack: %w", err)
		}
	}
	s := &Stack{cfg: cfg, log: cfg.Logger, reg: newRegistry(), fail: make(chan error, cfg.Members+2)}
	s.ctx, s.stop = context.WithCancel(ctx)
	defer func() {
		if err != nil {
			s.shutdown()
		}
	}()

	if s.broker, err = broker.Start(ctx, cfg.Broker); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	cc := clientconf.Config{Brokers: []string{s.broker.Addr()}, Compression: cfg.Compression}
	kopts, err := cc.KgoOpts()
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	rcfg := cfg.Registry
	rcfg.KafkaOpts = kopts
	if s.registry, err = registry.Start(ctx, rcfg); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	cc.RegistryURL, cc.RegistryUsername, cc.RegistryPassword = s.registry.URL(), rcfg.Username, rcfg.Password
	if _, err := schemas.Register(ctx, schemas.RegisterConfig{
		Registry: schemas.RegistryConfig{URL: cc.RegistryURL, HTTPClient: cc.RegistryHTTPClient()},
		Topics:   cfg.Pipeline.Topics.Topics}); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	if s.admCl, err = kgo.NewClient(kopts...); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.adm = kadm.NewClient(s.admCl)

	// The pipeline as every member runs it, connection included (each
	// part gets its own kgo options: franz-go rewrites the compression
	// option's codecs in place when it builds a client).
	pipe := cfg.Pipeline
	pipe.Brokers = cc.Brokers
	pipe.Sarama = func(sc *sarama.Config) error { return cc.ApplySarama(sc) }
	lake := cfg.Lake
	lake.DeviceTopic, lake.StationTopic = pipe.Topics.DeviceWindows, pipe.Topics.StationWindows
	lake.Defaults()
	lakeGroup := ""
	if !cfg.NoLake {
		lakeGroup = lake.Group
	}
	scfg := status.ForPipeline(pipe, lakeGroup)
	if cfg.Members > 0 {
		s.reg.MustRegister(status.NewCollector(s.adm, scfg, 0))
	}

	var metrics []*processors.Metrics
	var members []catchingUp
	for i := range cfg.Members {
		p, m, err := s.startMember(i, pipe, cc, scfg)
		if err != nil {
			return nil, err
		}
		metrics, members = append(metrics, m), append(members, p)
	}
	var lakeFiles func() int64
	if !cfg.NoLake {
		if len(members) > 0 {
			lake.Pacer = newLakePacer(members, lake.FlushInterval)
		}
		if lakeFiles, err = s.startLake(lake, cc); err != nil {
			return nil, err
		}
	}
	if !cfg.NoProducer {
		if err := s.startProducer(pipe, cc); err != nil {
			return nil, err
		}
	}
	s.banner()
	if !cfg.Quiet {
		live := &status.Live{Out: cfg.Stdout, Show: cfg.ShowStatus, Interval: cfg.StatusInterval, Admin: s.adm, Config: scfg, LakeFiles: lakeFiles,
			Metrics: func() processors.Snapshot {
				var sum processors.Snapshot
				for _, m := range metrics {
					sum = sum.Add(m.Snapshot())
				}
				return sum
			}}
		s.wg.Go(func() { _ = live.Run(s.ctx) })
	}
	return s, nil
}

// startMember starts member i and, with HTTPAddr, its HTTP server.
func (s *Stack) startMember(i int, pipe processors.Config, cc clientconf.Config, scfg status.Config) (*processors.Pipeline, *processors.Metrics, error) {
	pcfg := pipe
	kopts, err := cc.KgoOpts()
	if err != nil {
		return nil, nil, fmt.Errorf("devstack: member %d: %w", i, err)
	}
	pcfg.KafkaOpts, pcfg.Registry = kopts, cc.SRClient()
	// Members in one process need their own local state.
	pcfg.State.Dir = filepath.Join(pipe.State.Dir, fmt.Sprintf("member-%d", i))
	pcfg.Logger = s.log.With("member", i)
	// One registry for the process; members are told apart by a label.
	labelled := prometheus.WrapRegistererWith(prometheus.Labels{"member": strconv.Itoa(i)}, s.reg)
	m, err := processors.NewMetrics(labelled)
	if err != nil {
		return nil, nil, fmt.Errorf("devstack: member %d: %w", i, err)
	}
	p, err := processors.New(pcfg, m)
	if err != nil {
		return nil, nil, fmt.Errorf("devstack: member %d: %w", i, err)
	}
	if s.cfg.HTTPAddr != "" {
		if err := s.serveHTTP(i, pcfg, m, p, scfg, labelled); err != nil {
			return nil, nil, err
		}
	}
	s.wg.Go(func() {
		if err := p.Run(s.ctx); err != nil {
			s.failed(fmt.Errorf("devstack: member %d: %w", i, err))
		}
	})
	return p, m, nil
}

// serveHTTP starts member i's HTTP server with its dashboard: the first
// member's on HTTPAddr, the others' on free ports of the same host.
func (s *Stack) serveHTTP(i int, pcfg processors.Config, m *processors.Metrics, p *processors.Pipeline, scfg status.Config, reg prometheus.Registerer) error {
	addr := s.cfg.HTTPAddr
	if i > 0 {
		host, _, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(host, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devstack: http: %w", err)
	}
	url := httpapi.AdvertisedURL(ln.Addr(), "")
	p.AdvertiseHTTP(url)
	dash, err := dashboard.New(dashboard.Config{
		Hub: dashboard.HubConfig{KafkaOpts: pcfg.KafkaOpts, Registry: pcfg.Registry, StationTopic: pcfg.Topics.StationWindows,
			DeviceTopic: pcfg.Topics.DeviceWindows, MaxClients: s.cfg.DashboardMaxClients, Registerer: reg, Logger: s.log.With("component", "dashboard")},
		Health:   dashboard.Health{Metrics: m.Snapshot, Pipeline: p, Admin: s.adm, Status: scfg, Self: url},
		TimeZone: dashboard.ZoneName(pcfg.TimeZone),
	})
	if err != nil {
		ln.Close()
		return fmt.Errorf("devstack: member %d: %w", i, err)
	}
	srv := httpapi.New(httpapi.Config{Gatherer: s.reg, Pipeline: p, Self: url, Dashboard: dash, Logger: s.log.With("component", "http")})
	s.wg.Go(func() {
		if err := dash.Run(s.ctx); err != nil {
			s.log.Warn("dashboard stopped", "err", err)
		}
	})
	s.wg.Go(func() { _ = srv.Serve(s.ctx, ln) })
	s.urls = append(s.urls, url)
	return nil
}

// startLake starts the lake-writer and returns its file count.
func (s *Stack) startLake(cfg datalake.Config, cc clientconf.Config) (func() int64, error) {
	store, err := datalake.Open(s.ctx, s.cfg.LakeDir)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	kopts, err := cc.KgoOpts()
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("devstack: lake-writer: %w", err)
	}
	cfg.KafkaOpts, cfg.Registry, cfg.Store, cfg.Logger = kopts, cc.SRClient(), store, s.log.With("component", "lake")
	w, err := datalake.New(cfg)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s.wg.Go(func() {
		defer store.Close() // after Run's final flush: a bucket refuses writes once closed
		if err := w.Run(s.ctx); err != nil && s.ctx.Err() == nil {
			s.failed(fmt.Errorf("devstack: lake-writer: %w", err))
		}
	})
	return func() int64 { return w.Stats().Files }, nil
}

// startProducer starts the synthetic producer on the input topic.
func (s *Stack) startProducer(pipe processors.Config, cc clientconf.Config) error {
	cfg := s.cfg.Producer
	kopts, err := cc.KgoOpts()
	if err != nil {
		return fmt.Errorf("devstack: producer: %w", err)
	}
	cfg.Topic, cfg.KafkaOpts = pipe.Topics.Input, kopts
	cfg.RegistryURL, cfg.RegistryClient = cc.RegistryURL, cc.SRClient()
	cfg.Logger = s.log.With("component", "producer")
	cfg.Progress = producer.ProgressOff
	// The members create the topics too; whoever is first.
	cfg.Prepare = func(ctx context.Context, cl *kgo.Client) error {
		return s.ensureTopic(ctx, cl, pipe, pipe.Topics.Input)
	}
	s.wg.Go(func() {
		if _, err := producer.Run(s.ctx, cfg); err != nil && s.ctx.Err() == nil {
			s.failed(fmt.Errorf("devstack: producer: %w", err))
		}
	})
	return nil
}

// topicTimeout bounds creating a topic before producing to it.
const topicTimeout = 10 * time.Second

// ensureTopic creates topic as the pipeline would if it is missing.
func (s *Stack) ensureTopic(ctx context.Context, cl *kgo.Client, pipe processors.Config, topic string) error {
	specs, err := provision.Select(pipe.TopicSpecs(), topic)
	if err != nil {
		return fmt.Errorf("devstack: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, topicTimeout)
	defer cancel()
	created, err := provision.Create(ctx, kadm.NewClient(cl), specs, int16(pipe.Replication))
	if len(created) > 0 {
		s.log.Info("created topic", "topic", topic, "partitions", pipe.Partitions, "replication", pipe.Replication)
	}
	if err != nil {
		return fmt.Errorf("devstack: topic %s: %w", topic, err)
	}
	return nil
}

// failed reports a part's failure to Wait (the first of each part fits).
func (s *Stack) failed(err error) {
	select {
	case s.fail <- err:
	default:
	}
}

// Wait blocks until Start's context ends or a part fails, stops every
// part, and returns nil or the failure.
func (s *Stack) Wait() error {
	var err error
	select {
	case <-s.ctx.Done():
	case err = <-s.fail:
	}
	if s.ctx.Err() != nil {
		// Stopped from outside: whatever failed on the way down is the
		// shutdown's.
		err = nil
		fmt.Fprintln(s.cfg.Stdout, "turnstile dev: shutting down")
	}
	s.shutdown()
	return err
}

// shutdown stops the parts, waits for them, and closes the services.
func (s *Stack) shutdown() {
	s.stop()
	s.wg.Wait()
	if s.admCl != nil {
		s.admCl.Close()
	}
	if s.registry != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.registry.Close(ctx)
	}
	if s.broker != nil {
		s.broker.Close()
	}
}

// BrokerAddr is the embedded broker's address.
func (s *Stack) BrokerAddr() string { return s.broker.Addr() }

// RegistryURL is the embedded Schema Registry's URL.
func (s *Stack) RegistryURL() string { return s.registry.URL() }

// HTTPURLs are the members' HTTP servers' URLs, the first member's first
// (none without HTTPAddr).
func (s *Stack) HTTPURLs() []string { return append([]string(nil), s.urls...) }

// newRegistry is the process's Prometheus registry: Go runtime and process
// metrics, plus the parts'.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
