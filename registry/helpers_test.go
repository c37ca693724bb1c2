package registry_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// newRegistry starts an in-memory broker and a registry on it.
func newRegistry(t *testing.T) *registry.Server {
	t.Helper()
	b := testenv.Broker(t, "")
	return testenv.Registry(t, b.Addr())
}

// reply is an HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v, failing the test on error.
func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// errorCode is the error_code of an error answer (0 when absent).
func (r reply) errorCode(t *testing.T) int {
	t.Helper()
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("decode error body %q: %v", r.body, err)
	}
	return e.Code
}

// call sends one request; headers are name, value pairs. A body is sent as
// application/vnd.schemaregistry.v1+json unless headers set Content-Type.
func call(t *testing.T, method, url, body string, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

// schemaBody is a register/lookup/compatibility request body for schema.
func schemaBody(schema string) string {
	b, _ := json.Marshal(map[string]string{"schema": schema})
	return string(b)
}

// register registers schema under subject over raw HTTP and returns the id,
// failing the test unless the registry answered 200.
func register(t *testing.T, base, subject, schema string) int {
	t.Helper()
	r := call(t, "POST", base+"/subjects/"+subject+"/versions", schemaBody(schema))
	if r.status != http.StatusOK {
		t.Fatalf("register %s: %d %s", subject, r.status, r.body)
	}
	var out struct{ ID int }
	r.json(t, &out)
	if out.ID <= 0 {
		t.Fatalf("register %s: no id in %s", subject, r.body)
	}
	return out.ID
}

// Schemas used across tests: a record evolving through versions.
const (
	userV1 = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`
	// userV2 adds a field with a default.
	userV2 = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string","default":""}]}`
	// userV3 adds another.
	userV3  = `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"email","type":"string","default":""},{"name":"age","type":"int","default":0}]}`
	orderV1 = `{"type":"record","name":"Order","fields":[{"name":"sku","type":"string"},{"name":"qty","type":"int"}]}`
)

func itoa(n int) string { return strconv.Itoa(n) }

// jsonQuote encodes s as a JSON string, as the registry writes it (no HTML
// escaping).
func jsonQuote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
