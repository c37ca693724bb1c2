package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/dashboard"
)

// TestTimeZone: the page names the configured zone (New York unless told
// otherwise) for its script, a name Go's zone database does not know is
// refused by New, and the template is not served as an asset.
func TestTimeZone(t *testing.T) {
	var c dashboard.Config
	c.Defaults()
	if c.TimeZone != "America/New_York" {
		t.Errorf("default time zone %q", c.TimeZone)
	}
	for _, tc := range []struct{ zone, meta string }{
		{"", `<meta name="turnstile-time-zone" content="America/New_York">`},
		{"Europe/Paris", `<meta name="turnstile-time-zone" content="Europe/Paris">`},
		{"UTC", `<meta name="turnstile-time-zone" content="UTC">`},
	} {
		d, err := dashboard.New(dashboard.Config{TimeZone: tc.zone,
			Hub: dashboard.HubConfig{Registry: srclient.CreateMockSchemaRegistryClient("mock://")}})
		if err != nil {
			t.Fatalf("%q: %v", tc.zone, err)
		}
		mux := http.NewServeMux()
		d.Register(mux)
		srv := httptest.NewServer(mux)
		get := func(path string) (int, string) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, page := get("/"); code != http.StatusOK || !strings.Contains(page, tc.meta) || strings.Contains(page, "{{") {
			t.Errorf("%q: GET / %d, want the page with %s:\n%s", tc.zone, code, tc.meta, page)
		}
		if _, page := get("/dashboard/"); strings.Contains(page, "{{") {
			t.Errorf("GET /dashboard/ serves the page's template")
		}
		srv.Close()
	}
	for _, zone := range []string{"Mars/Olympus_Mons", `"><script>alert(1)</script>`, "Local"} {
		_, err := dashboard.New(dashboard.Config{TimeZone: zone,
			Hub: dashboard.HubConfig{Registry: srclient.CreateMockSchemaRegistryClient("mock://")}})
		if err == nil || !strings.HasPrefix(err.Error(), "dashboard: time zone") {
			t.Errorf("time zone %q: error %v, want one naming the time zone", zone, err)
		}
	}
}
