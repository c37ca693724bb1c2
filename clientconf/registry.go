package clientconf

import (
	"net/http"
	"time"

	"github.com/riferrei/srclient"
)

// RegistryHTTPClient is an HTTP client for the Schema Registry that adds
// basic auth when configured.
func (c Config) RegistryHTTPClient() *http.Client {
	var rt http.RoundTripper = http.DefaultTransport
	if c.RegistryUsername != "" {
		rt = basicAuth{user: c.RegistryUsername, pass: c.RegistryPassword, next: rt}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: rt}
}

// SRClient is a srclient registry client (what the codecs use) with the
// configured credentials. Its schema cache is on: schemas by id never
// change.
func (c Config) SRClient() srclient.ISchemaRegistryClient {
	cl := srclient.NewSchemaRegistryClient(c.RegistryURL, srclient.WithClient(c.RegistryHTTPClient()))
	if c.RegistryUsername != "" {
		cl.SetCredentials(c.RegistryUsername, c.RegistryPassword)
	}
	return cl
}

type basicAuth struct {
	user, pass string
	next       http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.pass)
	return b.next.RoundTrip(r)
}
