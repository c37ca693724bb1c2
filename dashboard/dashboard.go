package dashboard

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
	_ "time/tzdata" // Config.TimeZone is checked on machines without a zone database too
)

//go:embed web
var webFS embed.FS

// ContentSecurityPolicy is sent with the page and its assets: everything
// from the member itself, no inline script or style, no framing.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'"

// DefaultTimeZone is the zone the page shows times in unless
// Config.TimeZone says otherwise: the MTA's.
const DefaultTimeZone = "America/New_York"

// Config configures a Dashboard.
type Config struct {
	// Hub configures the event stream's hub on the sink topics (its
	// defaults: HubConfig).
	Hub HubConfig
	// Health is where the health panel's numbers come from.
	Health Health
	// TimeZone is the IANA name of the zone the page shows every time in
	// (windows, chart, watermarks), and names on the page (default
	// America/New_York, the MTA's local time). It should be the zone of the
	// data, so that a window reads as the local clock times it covers.
	TimeZone string
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.TimeZone == "" {
		c.TimeZone = DefaultTimeZone
	}
	c.Hub.Defaults()
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
	cfg.Defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	page, err := renderPage(sub, cfg)
	if err != nil {
		return nil, err
	}
	hub, err := NewHub(cfg.Hub)
	if err != nil {
		return nil, err
	}
	return &Dashboard{hub: hub, health: newHealth(cfg.Health, hub), page: page,
		assets: http.StripPrefix("/dashboard/", http.FileServerFS(sub))}, nil
}

// validate checks a Config whose defaults are filled: the zone, the hub's
// settings.
func (c *Config) validate() error {
	if err := checkZone(c.TimeZone); err != nil {
		return err
	}
	return c.Hub.validate()
}

// checkZone accepts the IANA zone names Go's database knows, which the
// browser knows too; not "Local", which means a machine's own zone.
func checkZone(name string) error {
	if name == "Local" {
		return fmt.Errorf("dashboard: time zone %q: want an IANA name such as %s, or UTC", name, DefaultTimeZone)
	}
	if _, err := time.LoadLocation(name); err != nil {
		return fmt.Errorf("dashboard: time zone: %w (want an IANA name such as %s, or UTC)", err, DefaultTimeZone)
	}
	return nil
}

// renderPage fills index.html's settings (html/template, so a value is
// always text in an attribute, never markup).
func renderPage(sub fs.FS, cfg Config) ([]byte, error) {
	tmpl, err := template.ParseFS(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, struct{ TimeZone string }{cfg.TimeZone}); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return b.Bytes(), nil
}

// Hub is the dashboard's event hub.
func (d *Dashboard) Hub() *Hub { return d.hub }

// Run reads the sink topics until ctx ends (from the first request for
// events on).
func (d *Dashboard) Run(ctx context.Context) error { return d.hub.Run(ctx) }

// Register adds the dashboard's routes to mux (every one read-only):
//
//	GET /              the page (Config.TimeZone in a meta element)
//	GET /dashboard/    its script, style sheet and icon
//	GET /events        the Server-Sent Events stream (see Hub.ServeHTTP)
//	GET /api/health    the health panel's numbers (HealthReport, JSON)
func (d *Dashboard) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", secure(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(d.page)
	})))
	mux.Handle("GET /dashboard/", secure(d.assets))
	// The directory's index is the page's template: the page is at /.
	mux.Handle("GET /dashboard/{$}", secure(http.RedirectHandler("/", http.StatusMovedPermanently)))
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

// ZoneName is the IANA name of loc for Config.TimeZone ("" for nil: the
// default).
func ZoneName(loc *time.Location) string {
	if loc == nil {
		return ""
	}
	return loc.String()
}
