package membertest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/dashboard"
	"github.com/turnstile-streams/turnstile/httpapi"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/state"
	"github.com/turnstile-streams/turnstile/status"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// Config is a small member's pipeline configuration: 5-minute windows, 3 h
// retention (readings are set relative to the wall clock, within it),
// partitions idle after 2 s, ticks every 200 ms, no future check, and its
// own state directory. Callers change fields as their test needs.
func Config(t *testing.T, brokers []string, sr srclient.ISchemaRegistryClient, partitions int) processors.Config {
	return processors.Config{
		Brokers: brokers, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Registry: sr,
		Partitions: partitions, Window: 5 * time.Minute, Retention: 3 * time.Hour,
		IdleTimeout: 2 * time.Second, TickInterval: 200 * time.Millisecond, SessionTimeout: 6 * time.Second,
		MaxFuture: -1, State: state.Options{Dir: t.TempDir(), MemTableSize: 4 << 20, CacheSize: 8 << 20},
		Logger: testenv.Logger(t),
	}
}

// Options say what the member serves besides its HTTP API.
type Options struct {
	// Admin, when set, registers the status collector (the lag and counts
	// of turnstile status) on the member's metrics.
	Admin *kadm.Client
	// Dashboard serves the live dashboard on GET / and /events (it needs
	// Admin for its health).
	Dashboard bool
}

// Member is a running member.
type Member struct {
	P   *processors.Pipeline
	Reg *prometheus.Registry
	URL string // the advertised base URL of its HTTP server
}

// Start starts a member with cfg; it runs until ctx ends or the test
// does, and an error of any of its parts fails the test.
func Start(t *testing.T, ctx context.Context, cfg processors.Config, opts Options) *Member {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := processors.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	scfg := status.ForPipeline(cfg, "")
	if opts.Admin != nil {
		reg.MustRegister(status.NewCollector(opts.Admin, scfg, 5*time.Second))
	}
	p, err := processors.New(cfg, m)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := httpapi.AdvertisedURL(ln.Addr(), "")
	p.AdvertiseHTTP(self)
	ctx, cancel := context.WithCancel(ctx)
	done := map[string]chan error{"Run": make(chan error, 1), "Serve": make(chan error, 1)}
	hcfg := httpapi.Config{Gatherer: reg, Pipeline: p, Self: self, Logger: testenv.Logger(t)}
	if opts.Dashboard {
		dash, err := dashboard.New(dashboard.Config{
			Hub:    dashboard.HubConfig{KafkaOpts: cfg.KafkaOpts, Registry: cfg.Registry, Registerer: reg, Logger: testenv.Logger(t)},
			Health: dashboard.Health{Metrics: m.Snapshot, Pipeline: p, Admin: opts.Admin, Status: scfg, Self: self},
		})
		if err != nil {
			ln.Close()
			cancel()
			t.Fatal(err)
		}
		hcfg.Dashboard = dash
		done["dashboard"] = make(chan error, 1)
		go func() { done["dashboard"] <- dash.Run(ctx) }()
	}
	srv := httpapi.New(hcfg)
	go func() { done["Run"] <- p.Run(ctx) }()
	go func() { done["Serve"] <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		for name, ch := range done {
			if err := <-ch; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
	return &Member{P: p, Reg: reg, URL: self}
}
