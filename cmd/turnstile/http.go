package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/turnstile-streams/turnstile/console"
	"github.com/turnstile-streams/turnstile/dashboard"
	"github.com/turnstile-streams/turnstile/httpapi"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/status"
)

// httpFlags configure a member's HTTP server and its live status output
// (turnstile process, turnstile dev).
type httpFlags struct {
	addr, advertise string
	quiet           bool
	statusInterval  time.Duration
	logFile         string
	logSummary      time.Duration
	dashClients     int
}

func (h *httpFlags) register(fs *pflag.FlagSet) {
	var (
		live status.Live
		logs console.LogsConfig
		hub  dashboard.HubConfig
	)
	live.Defaults()
	logs.Defaults()
	hub.Defaults()
	fs.StringVar(&h.addr, "http-addr", "127.0.0.1:8080", "HTTP server: /metrics, /healthz, /readyz, /monitor/, window queries (\"\": off; 0.0.0.0:8080 for all interfaces)")
	fs.StringVar(&h.advertise, "http-advertise", "", "URL other members redirect queries to (default: http://<http-addr>, hostname for 0.0.0.0)")
	fs.BoolVar(&h.quiet, "quiet", false, "no live status, logs only (on a terminal too)")
	fs.DurationVar(&h.statusInterval, "status-interval", live.Interval, "how often the live status is printed (on a terminal: redrawn in place)")
	fs.StringVar(&h.logFile, "log-file", "", "on a terminal, where the logs go (default <data-dir>/turnstile.log); the terminal shows the status, warnings and errors")
	fs.DurationVar(&h.logSummary, "log-summary-interval", logs.Interval, "on a terminal, how often one line counts the log records that went only to --log-file")
	fs.IntVar(&h.dashClients, "dashboard-max-clients", hub.MaxClients, "most open /events streams (the dashboard's live updates) on this member's HTTP server; more get 503")
}

// dashboard builds a member's live dashboard (GET /, /events, /api/health)
// from its processors' config, metrics and status report.
func (h *httpFlags) dashboard(a *app, cfg processors.Config, m *processors.Metrics, p *processors.Pipeline,
	adm *kadm.Client, scfg status.Config, self string, reg prometheus.Registerer) (*dashboard.Dashboard, error) {
	return dashboard.New(dashboard.Config{
		Hub: dashboard.HubConfig{KafkaOpts: cfg.KafkaOpts, Registry: cfg.Registry, StationTopic: cfg.Topics.StationWindows,
			DeviceTopic: cfg.Topics.DeviceWindows, MaxClients: h.dashClients, Registerer: reg, Logger: a.log.With("component", "dashboard")},
		Health:   dashboard.Health{Metrics: m.Snapshot, Pipeline: p, Admin: adm, Status: scfg, Self: self},
		TimeZone: dashboard.ZoneName(cfg.TimeZone),
	})
}

// newRegistry is the Prometheus registry of a process: Go runtime and
// process metrics, plus what the caller registers.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// member is a started HTTP server for one pipeline member.
type memberHTTP struct {
	url  string
	done chan error
}

// listenHTTP binds addr and tells the pipeline its advertised URL (the
// pipeline must not be running yet); serve starts answering.
func listenHTTP(addr, advertise string, p *processors.Pipeline) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("--http-addr: %w", err)
	}
	url := httpapi.AdvertisedURL(ln.Addr(), advertise)
	if p != nil {
		p.AdvertiseHTTP(url)
	}
	return ln, url, nil
}

func serveHTTP(ctx context.Context, a *app, ln net.Listener, url string, reg prometheus.Gatherer, p *processors.Pipeline, dash *dashboard.Dashboard) *memberHTTP {
	cfg := httpapi.Config{Gatherer: reg, Pipeline: p, Self: url, Logger: a.log.With("component", "http")}
	if dash != nil {
		cfg.Dashboard = dash
	}
	srv := httpapi.New(cfg)
	m := &memberHTTP{url: url, done: make(chan error, 1)}
	go func() {
		dashDone := make(chan struct{})
		go func() {
			defer close(dashDone)
			if dash != nil {
				if err := dash.Run(ctx); err != nil {
					a.log.Warn("dashboard stopped", "err", err)
				}
			}
		}()
		err := srv.Serve(ctx, ln)
		<-dashDone
		m.done <- err
	}()
	return m
}
