package httpapi_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnstile-streams/turnstile/httpapi"
)

// Example serves a process's metrics without a pipeline (a process that
// runs no processors is always ready and answers no queries).
func Example() {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "demo_total", Help: "A demo counter."})
	reg.MustRegister(c)
	c.Add(3)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Gatherer: reg}).Handler())
	defer srv.Close()

	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/devices/A002/R051/02-00-00/windows"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "demo_total") || strings.Contains(line, `"ready"`) || line == "ok" || strings.Contains(line, `"error"`) {
				fmt.Println(path, resp.StatusCode, strings.TrimSpace(line))
			}
		}
	}
	// Output:
	// /healthz 200 ok
	// /readyz 200 "ready": true,
	// /metrics 200 demo_total 3
	// /devices/A002/R051/02-00-00/windows 404 "error": "this member does not run the windowed stage"
}

func ExampleAdvertisedURL() {
	addr := &net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 8080}
	fmt.Println(httpapi.AdvertisedURL(addr, ""))
	fmt.Println(httpapi.AdvertisedURL(addr, "processor-1:8080"))
	// Output:
	// http://10.0.0.5:8080
	// http://processor-1:8080
}
