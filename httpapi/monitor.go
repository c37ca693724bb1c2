package httpapi

import (
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/gorilla/mux"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/web/monitor"

	"github.com/turnstile-streams/turnstile/internal/gokalog"
	"github.com/turnstile-streams/turnstile/processors"
)

// monitorHandler serves goka's web monitor for the processors running now.
// goka's monitor cannot detach a processor, and a stage that restarts gets
// a new one, so the monitor is rebuilt whenever the set changes.
type monitorHandler struct {
	p   *processors.Pipeline
	log *slog.Logger

	mu    sync.Mutex
	procs []*goka.Processor
	h     http.Handler
}

func newMonitor(p *processors.Pipeline, log *slog.Logger) *monitorHandler {
	return &monitorHandler{p: p, log: log}
}

func (m *monitorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var cur []*goka.Processor
	if m.p != nil {
		cur = m.p.Processors()
	}
	m.mu.Lock()
	if m.h == nil || !slices.Equal(cur, m.procs) {
		router := mux.NewRouter()
		srv := monitor.NewServer("/monitor", router, monitor.WithLogger(gokalog.New(m.log, "goka-monitor")))
		for _, p := range cur {
			srv.AttachProcessor(p)
		}
		m.procs, m.h = cur, router
	}
	h := m.h
	m.mu.Unlock()
	h.ServeHTTP(w, r)
}
