package dashboard

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
)

//go:embed web
var webFS embed.FS

// ContentSecurityPolicy is sent with the page and its assets: everything
// from the member itself, no inline script or style, no framing.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

// Config configures a Dashboard.
type Config struct {
	Hub    HubConfig
	Health Health
}

// Dashboard is the page, its assets, the event stream and the health
// endpoint of one member.
type Dashboard struct {
	hub    *Hub
	health *health
	page   []byte
	assets http.Handler
}

// New builds a dashboard; Run reads the sink topics for it.
func New(cfg Config) (*Dashboard, error) {
	hub, err := NewHub(cfg.Hub)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	page, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return &Dashboard{hub: hub, health: newHealth(cfg.Health, hub), page: page,
		assets: http.StripPrefix("/dashboard/", http.FileServerFS(sub))}, nil
}

// Hub is the dashboard's event hub.
func (d *Dashboard) Hub() *Hub { return d.hub }

// Run reads the sink topics until ctx ends (from the first request for
// events on).
func (d *Dashboard) Run(ctx context.Context) error { return d.hub.Run(ctx) }

// Register adds the dashboard's routes to mux (every one read-only):
//
//	GET /              the page
//	GET /dashboard/    its script, style sheet and icon
//	GET /events        the Server-Sent Events stream (see Hub.ServeHTTP)
//	GET /api/health    the health panel's numbers (HealthReport, JSON)
func (d *Dashboard) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", secure(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(d.page)
	})))
	mux.Handle("GET /dashboard/", secure(d.assets))
	mux.Handle("GET /favicon.ico", secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dashboard/favicon.svg", http.StatusMovedPermanently)
	})))
	mux.Handle("GET /events", secure(d.hub))
	mux.Handle("GET /api/health", secure(d.health))
}

// secure adds the headers every dashboard answer carries.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		if hd.Get("Cache-Control") == "" {
			hd.Set("Cache-Control", "no-cache")
		}
		h.ServeHTTP(w, r)
	})
}
