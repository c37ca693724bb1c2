package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/turnstile-streams/turnstile/processors"
)

// Config configures a member's HTTP server.
type Config struct {
	// Gatherer is what /metrics exposes (usually a *prometheus.Registry
	// holding the processors' metrics and a status.Collector).
	Gatherer prometheus.Gatherer
	// Pipeline answers /readyz, the queries and the monitor; nil for a
	// process that runs no processors (then /readyz is always ready and
	// the queries answer 404).
	Pipeline *processors.Pipeline
	// Self is this server's advertised base URL (see AdvertisedURL): a
	// redirect to it would loop, so it is never redirected to.
	Self string
	// Client calls other members for station queries (default: a client
	// with a 10s timeout).
	Client *http.Client
	// Dashboard, when set, serves GET / (instead of the text index) and
	// registers its own read-only routes (package dashboard: the page,
	// GET /events, GET /api/health).
	Dashboard Routes
	// Logger receives the queries' warnings and errors and the goka
	// monitor's lines (default: discard).
	Logger *slog.Logger
}

// Defaults fills zero fields but Pipeline and Dashboard, which are
// optional.
func (c *Config) Defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Gatherer == nil {
		c.Gatherer = prometheus.NewRegistry()
	}
}

// Routes is something that adds its handlers to the server's mux.
type Routes interface {
	Register(mux *http.ServeMux)
}

// Server is the HTTP server of one member.
type Server struct {
	cfg Config
	mux *http.ServeMux
}

// New builds the routes.
func New(cfg Config) *Server {
	cfg.Defaults()
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{ErrorLog: slogPrinter{cfg.Logger}}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /devices/{ca}/{unit}/{scp}/windows", s.device)
	s.mux.HandleFunc("GET /stations/{station}/windows", s.station)
	s.mux.Handle("/monitor/", newMonitor(cfg.Pipeline, cfg.Logger))
	if cfg.Dashboard != nil {
		cfg.Dashboard.Register(s.mux)
	} else {
		s.mux.HandleFunc("GET /{$}", s.index)
	}
	return s
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("httpapi: %w", err)
}

// AdvertisedURL is the base URL other members and clients use to reach a
// server listening on addr: advertise if given, else http://addr with an
// unspecified host (0.0.0.0, ::) replaced by the machine's hostname.
func AdvertisedURL(addr net.Addr, advertise string) string {
	if advertise != "" {
		if !strings.Contains(advertise, "://") {
			advertise = "http://" + advertise
		}
		return strings.TrimRight(advertise, "/")
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, `turnstile member
  /metrics                                Prometheus metrics
  /healthz                                the process is alive
  /readyz                                 the member's processors are running (JSON)
  /monitor/                               goka's web monitor
  /devices/{ca}/{unit}/{scp}/windows      a device's open and retained windows (JSON)
  /stations/{station}/windows             a station's open and retained windows (JSON; ?line=)
`)
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Pipeline == nil {
		writeJSON(w, http.StatusOK, processors.Readiness{Ready: true, Groups: map[string]string{}})
		return
	}
	r := s.cfg.Pipeline.Readiness()
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error is the body of every error answer.
type Error struct {
	Error     string `json:"error"`
	Group     string `json:"group,omitempty"`
	Partition *int32 `json:"partition,omitempty"`
	// Owner is the base URL of the member that owns the key's partition.
	Owner string `json:"owner,omitempty"`
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Warn(fmt.Sprint(v...), "component", "http") }
