package registry_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestSameSchemaSameID checks identity by parsed form: key order and
// whitespace do not make a new schema, in one subject or across subjects.
func TestSameSchemaSameID(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	id := register(t, base, "users-value", userV1)
	reordered := `{
	  "namespace": "com.example", "fields": [
	    {"type": "long", "name": "id"},
	    {"type": "string", "name": "name"}
	  ],
	  "name": "User", "type": "record"}`
	if got := register(t, base, "users-value", reordered); got != id {
		t.Fatalf("reordered keys: id %d, want %d", got, id)
	}
	// Namespace folded into the name is the same schema too.
	qualified := `{"type":"record","name":"com.example.User","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}`
	if got := register(t, base, "users-value", qualified); got != id {
		t.Fatalf("qualified name: id %d, want %d", got, id)
	}
	var versions []int
	call(t, "GET", base+"/subjects/users-value/versions", "").json(t, &versions)
	if !slices.Equal(versions, []int{1}) {
		t.Fatalf("versions = %v, want [1]", versions)
	}
	// Lookup finds it by the same identity.
	var found struct {
		Subject string
		Version int
		ID      int
		Schema  string
	}
	r := call(t, "POST", base+"/subjects/users-value", schemaBody(reordered))
	if r.status != http.StatusOK {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	r.json(t, &found)
	if found.Subject != "users-value" || found.Version != 1 || found.ID != id || found.Schema != userV1 {
		t.Fatalf("lookup = %+v", found)
	}
	// Another subject reuses the id; a different schema gets a new one.
	if got := register(t, base, "copy-value", reordered); got != id {
		t.Fatalf("other subject: id %d, want %d", got, id)
	}
	// A default is part of the schema: same fields, new default, new id.
	withDefault := `{"type":"record","name":"User","namespace":"com.example","fields":[{"name":"id","type":"long"},{"name":"name","type":"string","default":"anon"}]}`
	if got := register(t, base, "users-value", withDefault); got == id {
		t.Fatalf("schema with a new default reused id %d", id)
	}
	var pairs []struct {
		Subject string
		Version int
	}
	call(t, "GET", base+"/schemas/ids/"+itoa(id)+"/versions", "").json(t, &pairs)
	if len(pairs) != 2 || pairs[0].Subject != "copy-value" || pairs[1].Subject != "users-value" {
		t.Fatalf("/schemas/ids/%d/versions = %+v", id, pairs)
	}
}

// TestEncodedSubject checks subjects containing "/" sent as %2F.
func TestEncodedSubject(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	id := register(t, base, "team%2Fusers-value", userV1)
	var subjects []string
	call(t, "GET", base+"/subjects", "").json(t, &subjects)
	if !slices.Equal(subjects, []string{"team/users-value"}) {
		t.Fatalf("subjects = %q", subjects)
	}
	var got struct {
		Subject string
		ID      int
	}
	r := call(t, "GET", base+"/subjects/team%2Fusers-value/versions/latest", "")
	if r.status != http.StatusOK {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	r.json(t, &got)
	if got.Subject != "team/users-value" || got.ID != id {
		t.Fatalf("got %+v", got)
	}
	// Unencoded, the slash splits the path: no such route.
	if r := call(t, "GET", base+"/subjects/team/users-value/versions/1", ""); r.status != http.StatusNotFound {
		t.Fatalf("unencoded slash: %d %s", r.status, r.body)
	}
	// Both Go clients escape the slash.
	c, err := sr.NewClient(sr.URLs(base))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := c.SchemaByVersion(context.Background(), "team/users-value", 1)
	if err != nil || ss.ID != id || ss.Subject != "team/users-value" {
		t.Fatalf("sr client: %+v %v", ss, err)
	}
	sc := srclient.CreateSchemaRegistryClient(base)
	s2, err := sc.CreateSchema("team/orders value", orderV1, srclient.Avro)
	if err != nil {
		t.Fatalf("srclient: %v", err)
	}
	if got, err := sc.GetLatestSchema("team/orders value"); err != nil || got.ID() != s2.ID() {
		t.Fatalf("srclient latest: %v %v", got, err)
	}
	setLevel(t, base, "team%2Fusers-value", "FULL")
	r = call(t, "GET", base+"/config/team%2Fusers-value", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "FULL") {
		t.Fatalf("config: %d %s", r.status, r.body)
	}
}

// TestContentTypes checks which request content types are accepted and the
// response content type.
func TestContentTypes(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	for i, ct := range []string{
		"application/vnd.schemaregistry.v1+json",
		"application/vnd.schemaregistry+json",
		"application/json",
		"application/json; charset=utf-8",
		"*/*",
		"", // none
	} {
		t.Run(ct, func(t *testing.T) {
			subject := "ct-" + itoa(i)
			r := call(t, "POST", base+"/subjects/"+subject+"/versions", schemaBody(orderV1), "Content-Type", ct)
			if r.status != http.StatusOK {
				t.Fatalf("register with %q: %d %s", ct, r.status, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "application/vnd.schemaregistry.v1+json" {
				t.Fatalf("response content type %q", got)
			}
		})
	}
	r := call(t, "POST", base+"/subjects/x/versions", schemaBody(orderV1), "Content-Type", "text/plain")
	if r.status != http.StatusUnsupportedMediaType || r.errorCode(t) != 415 {
		t.Fatalf("text/plain: %d %s", r.status, r.body)
	}
}

// TestEmptyBasicAuthWithoutAuth checks the header Python's legacy client
// sends when no credentials are configured.
func TestEmptyBasicAuthWithoutAuth(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	r := call(t, "GET", base+"/subjects", "", "Authorization", "Basic Og==")
	if r.status != http.StatusOK {
		t.Fatalf("GET /subjects with Basic Og==: %d %s", r.status, r.body)
	}
	r = call(t, "POST", base+"/subjects/py-value/versions", schemaBody(orderV1), "Authorization", "Basic Og==")
	if r.status != http.StatusOK {
		t.Fatalf("register with Basic Og==: %d %s", r.status, r.body)
	}
}

// TestReadEndpoints checks the shapes of the read-only answers.
func TestReadEndpoints(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	id := register(t, base, "users-value", userV1)
	id2 := register(t, base, "users-value", userV2)
	cases := []struct {
		path string
		want string
	}{
		{"/", `{}`},
		{"/schemas/types", `["AVRO"]`},
		{"/mode", `{"mode":"READWRITE"}`},
		{"/config", `{"compatibilityLevel":"BACKWARD"}`},
		{"/config/users-value?defaultToGlobal=true", `{"compatibilityLevel":"BACKWARD"}`},
		{"/subjects", `["users-value"]`},
		{"/subjects/users-value/versions", `[1,2]`},
		{"/subjects/users-value/versions/1/schema", userV1},
		{"/subjects/users-value/versions/latest/schema", userV2},
		{"/subjects/users-value/versions/-1/schema", userV2},
		{"/schemas/ids/" + itoa(id) + "/schema", userV1},
		{"/schemas/ids/" + itoa(id), `{"schema":` + jsonQuote(userV1) + `}`},
		{"/schemas/ids/" + itoa(id2) + "/versions", `[{"subject":"users-value","version":2}]`},
		{"/schemas/ids/" + itoa(id2) + "/subjects", `["users-value"]`},
		{"/subjects/users-value/versions/2", `{"subject":"users-value","version":2,"id":` + itoa(id2) + `,"schema":` + jsonQuote(userV2) + `}`},
	}
	for _, tc := range cases {
		r := call(t, "GET", base+tc.path, "")
		if r.status != http.StatusOK || string(r.body) != tc.want {
			t.Errorf("GET %s = %d %s, want %s", tc.path, r.status, r.body, tc.want)
		}
	}
}

// TestErrors checks every error the API answers, with Confluent's status
// and error_code.
func TestErrors(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	register(t, base, "users-value", userV1)
	register(t, base, "users-value", userV2)
	register(t, base, "gone-value", orderV1)
	if r := call(t, "DELETE", base+"/subjects/gone-value", ""); r.status != http.StatusOK {
		t.Fatalf("soft delete: %d %s", r.status, r.body)
	}

	cases := []struct {
		name, method, path, body string
		status, code             int
		msg                      string // part of the message
	}{
		{"subject not found", "GET", "/subjects/nope/versions", "", 404, 40401, "nope"},
		{"subject not found on version", "GET", "/subjects/nope/versions/1", "", 404, 40401, ""},
		{"subject not found on lookup", "POST", "/subjects/nope", schemaBody(userV1), 404, 40401, ""},
		{"soft-deleted subject not found", "GET", "/subjects/gone-value/versions", "", 404, 40401, ""},
		{"version not found", "GET", "/subjects/users-value/versions/9", "", 404, 40402, "9"},
		{"soft-deleted version not found", "GET", "/subjects/gone-value/versions/1?deleted=false", "", 404, 40401, ""},
		{"schema not found by id", "GET", "/schemas/ids/999", "", 404, 40403, ""},
		{"schema not found on lookup", "POST", "/subjects/users-value", schemaBody(orderV1), 404, 40403, ""},
		{"schema not found on versions by id", "GET", "/schemas/ids/999/versions", "", 404, 40403, ""},
		{"invalid version word", "GET", "/subjects/users-value/versions/abc", "", 422, 42202, "abc"},
		{"invalid version zero", "GET", "/subjects/users-value/versions/0", "", 422, 42202, ""},
		{"invalid version negative", "DELETE", "/subjects/users-value/versions/-2", "", 422, 42202, ""},
		{"invalid version on compatibility", "POST", "/compatibility/subjects/users-value/versions/x", schemaBody(userV1), 422, 42202, ""},
		{"invalid schema not json", "POST", "/subjects/users-value/versions", schemaBody(`{"type":`), 422, 42201, ""},
		{"invalid schema unknown type", "POST", "/subjects/users-value/versions", schemaBody(`{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}`), 422, 42201, "Missing"},
		{"invalid schema bad default", "POST", "/subjects/users-value/versions", schemaBody(`{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`), 422, 42201, "default"},
		{"invalid schema empty", "POST", "/subjects/users-value/versions", `{"schema":""}`, 422, 42201, "Empty"},
		{"invalid schema missing", "POST", "/subjects/users-value/versions", `{}`, 422, 42201, ""},
		{"invalid schema on lookup", "POST", "/subjects/users-value", schemaBody(`nope`), 422, 42201, ""},
		{"invalid schema on compatibility", "POST", "/compatibility/subjects/users-value/versions/latest", schemaBody(`[`), 422, 42201, ""},
		{"unsupported schema type", "POST", "/subjects/users-value/versions", `{"schema":"syntax = \"proto3\";","schemaType":"PROTOBUF"}`, 422, 42201, "only AVRO"},
		{"invalid compatibility level", "PUT", "/config", `{"compatibility":"SIDEWAYS"}`, 422, 42203, "backward_transitive"},
		{"invalid subject compatibility level", "PUT", "/config/users-value", `{"compatibility":""}`, 422, 42203, ""},
		{"incompatible", "POST", "/subjects/users-value/versions", schemaBody(record(fA)), 409, 409, "users-value"},
		{"subject level not configured", "GET", "/config/users-value", "", 404, 40408, ""},
		{"delete config of unknown subject", "DELETE", "/config/nope", "", 404, 40401, ""},
		{"delete unset subject config", "DELETE", "/config/users-value", "", 404, 40408, ""},
		{"subject soft deleted", "DELETE", "/subjects/gone-value", "", 404, 40404, "permanent=true"},
		{"subject not soft deleted", "DELETE", "/subjects/users-value?permanent=true", "", 404, 40405, ""},
		{"version soft deleted", "DELETE", "/subjects/gone-value/versions/1", "", 404, 40406, ""},
		{"version not soft deleted", "DELETE", "/subjects/users-value/versions/1?permanent=true", "", 404, 40407, ""},
		{"delete unknown version", "DELETE", "/subjects/users-value/versions/7", "", 404, 40402, ""},
		{"delete in unknown subject", "DELETE", "/subjects/nope/versions/1", "", 404, 40401, ""},
		{"delete unknown subject", "DELETE", "/subjects/nope", "", 404, 40401, ""},
		{"malformed json", "POST", "/subjects/users-value/versions", `{"schema":`, 400, 400, ""},
		{"mode changes", "PUT", "/mode", `{"mode":"READONLY"}`, 422, 42205, ""},
		{"unknown route", "GET", "/nothing/here", "", 404, 404, ""},
		{"method not allowed", "PATCH", "/subjects", "", 405, 405, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tc.method, base+tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("%s %s: status %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
			if got := r.errorCode(t); got != tc.code {
				t.Fatalf("%s %s: error_code %d (%s), want %d", tc.method, tc.path, got, r.body, tc.code)
			}
			if !strings.Contains(string(r.body), tc.msg) {
				t.Fatalf("%s %s: message %s does not contain %q", tc.method, tc.path, r.body, tc.msg)
			}
			if got := r.header.Get("Content-Type"); got != "application/vnd.schemaregistry.v1+json" {
				t.Fatalf("content type %q", got)
			}
		})
	}
}

// TestDeleteLifecycle walks a version and a subject through soft and
// permanent deletion.
func TestDeleteLifecycle(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	id1 := register(t, base, "s", userV1)
	register(t, base, "s", userV2)
	setLevel(t, base, "s", "FULL")

	r := call(t, "DELETE", base+"/subjects/s/versions/latest", "")
	if r.status != http.StatusOK || string(r.body) != "2" {
		t.Fatalf("soft delete latest: %d %s", r.status, r.body)
	}
	// Soft-deleted versions are hidden but still readable on request.
	if r := call(t, "GET", base+"/subjects/s/versions", ""); string(r.body) != "[1]" {
		t.Fatalf("versions = %s", r.body)
	}
	if r := call(t, "GET", base+"/subjects/s/versions?deleted=true", ""); string(r.body) != "[1,2]" {
		t.Fatalf("versions with deleted = %s", r.body)
	}
	if r := call(t, "GET", base+"/subjects/s/versions/2?deleted=true", ""); r.status != http.StatusOK {
		t.Fatalf("deleted version with deleted=true: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/subjects/s/versions/2", ""); r.errorCode(t) != 40402 {
		t.Fatalf("deleted version: %s", r.body)
	}
	// Re-registering a deleted schema makes a new version.
	if r := call(t, "POST", base+"/subjects/s/versions", schemaBody(userV2)); r.status != http.StatusOK {
		t.Fatalf("re-register: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/subjects/s/versions", ""); string(r.body) != "[1,3]" {
		t.Fatalf("versions after re-register = %s", r.body)
	}
	if r := call(t, "DELETE", base+"/subjects/s/versions/2?permanent=true", ""); r.status != http.StatusOK || string(r.body) != "2" {
		t.Fatalf("hard delete v2: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/subjects/s/versions?deleted=true", ""); string(r.body) != "[1,3]" {
		t.Fatalf("versions after hard delete = %s", r.body)
	}

	r = call(t, "DELETE", base+"/subjects/s", "")
	if r.status != http.StatusOK || string(r.body) != "[1,3]" {
		t.Fatalf("soft delete subject: %d %s", r.status, r.body)
	}
	// Its own compatibility level went with it, as in Confluent.
	if r := call(t, "GET", base+"/config/s", ""); r.errorCode(t) != 40408 {
		t.Fatalf("config after subject delete: %s", r.body)
	}
	if r := call(t, "GET", base+"/subjects", ""); string(r.body) != "[]" {
		t.Fatalf("subjects = %s", r.body)
	}
	if r := call(t, "GET", base+"/subjects?deleted=true", ""); string(r.body) != `["s"]` {
		t.Fatalf("subjects with deleted = %s", r.body)
	}
	// Ids outlive soft deletes.
	if r := call(t, "GET", base+"/schemas/ids/"+itoa(id1), ""); r.status != http.StatusOK {
		t.Fatalf("id after soft delete: %d %s", r.status, r.body)
	}
	if r := call(t, "POST", base+"/subjects/s?deleted=true", schemaBody(userV1)); r.status != http.StatusOK {
		t.Fatalf("lookup deleted: %d %s", r.status, r.body)
	}
	r = call(t, "DELETE", base+"/subjects/s?permanent=true", "")
	if r.status != http.StatusOK || string(r.body) != "[1,3]" {
		t.Fatalf("hard delete subject: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/schemas/ids/"+itoa(id1), ""); r.errorCode(t) != 40403 {
		t.Fatalf("id after hard delete: %s", r.body)
	}
	// A fresh start for the subject, with a new id.
	if id := register(t, base, "s", userV1); id <= id1 {
		t.Fatalf("id after hard delete = %d, want > %d", id, id1)
	}
	if r := call(t, "GET", base+"/subjects/s/versions", ""); string(r.body) != "[1]" {
		t.Fatalf("versions after fresh start = %s", r.body)
	}
}

// TestConfigEndpoints checks the global and subject compatibility settings.
func TestConfigEndpoints(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	r := call(t, "PUT", base+"/config", `{"compatibility":"full_transitive"}`)
	if r.status != http.StatusOK || string(r.body) != `{"compatibility":"FULL_TRANSITIVE"}` {
		t.Fatalf("PUT /config: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/config", ""); string(r.body) != `{"compatibilityLevel":"FULL_TRANSITIVE"}` {
		t.Fatalf("GET /config: %s", r.body)
	}
	if r := call(t, "GET", base+"/config/any?defaultToGlobal=true", ""); string(r.body) != `{"compatibilityLevel":"FULL_TRANSITIVE"}` {
		t.Fatalf("GET /config/any?defaultToGlobal=true: %s", r.body)
	}
	// A subject may be configured before it has versions.
	setLevel(t, base, "any", "NONE")
	if r := call(t, "GET", base+"/config/any", ""); string(r.body) != `{"compatibilityLevel":"NONE"}` {
		t.Fatalf("GET /config/any: %s", r.body)
	}
	r = call(t, "DELETE", base+"/config/any", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"compatibility":"NONE"`) {
		t.Fatalf("DELETE /config/any: %d %s", r.status, r.body)
	}
	r = call(t, "DELETE", base+"/config", "")
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"compatibilityLevel":"FULL_TRANSITIVE"`) {
		t.Fatalf("DELETE /config: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/config", ""); string(r.body) != `{"compatibilityLevel":"BACKWARD"}` {
		t.Fatalf("GET /config after reset: %s", r.body)
	}
}

// TestIgnoredRequestFields checks that references, metadata and ruleSet do
// not break registration, lookup or checks.
func TestIgnoredRequestFields(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	body := `{"schema":` + jsonQuote(orderV1) + `,"schemaType":"AVRO","references":[],` +
		`"metadata":{"properties":{"owner":"team"},"tags":{"sku":["PII"]}},` +
		`"ruleSet":{"domainRules":[{"name":"r","kind":"CONDITION","mode":"WRITE","type":"CEL","expr":"true"}]},"normalize":true}`
	for _, path := range []string{"/subjects/o/versions", "/subjects/o", "/compatibility/subjects/o/versions/latest"} {
		if r := call(t, "POST", base+path, body); r.status != http.StatusOK {
			t.Fatalf("POST %s: %d %s", path, r.status, r.body)
		}
	}
}

// TestAuth checks basic auth when credentials are configured, and that
// the password shows in no answer and no log line.
func TestAuth(t *testing.T) {
	b := testenv.Broker(t, "")
	var logs testenv.SyncBuffer
	const user, pass = "svc", "s3cret-pa55"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := registry.Start(ctx, registry.Config{
		Addr:      "127.0.0.1:0",
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())},
		Username:  user,
		Password:  pass,
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	base := reg.URL()

	basic := func(u, p string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(u, p)
		return req.Header.Get("Authorization")
	}
	denied := []struct{ name, header string }{
		{"none", ""},
		{"empty", "Basic Og=="},
		{"wrong password", basic(user, "nope")},
		{"wrong user", basic("other", pass)},
		{"password prefix", basic(user, pass[:4])},
		{"bearer", "Bearer " + pass},
	}
	for _, d := range denied {
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/subjects", ""},
			{"POST", "/subjects/a/versions", schemaBody(orderV1)},
			{"GET", "/nothing", ""},
		} {
			r := call(t, req.method, base+req.path, req.body, "Authorization", d.header)
			if r.status != http.StatusUnauthorized || r.errorCode(t) != 401 {
				t.Fatalf("%s %s with %s: %d %s, want 401", req.method, req.path, d.name, r.status, r.body)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
				t.Fatalf("401 without WWW-Authenticate: %v", r.header)
			}
			if strings.Contains(string(r.body), pass) || strings.Contains(string(r.body), user) {
				t.Fatalf("401 answer leaks credentials: %s", r.body)
			}
		}
	}
	good := basic(user, pass)
	if r := call(t, "POST", base+"/subjects/a/versions", schemaBody(orderV1), "Authorization", good); r.status != http.StatusOK {
		t.Fatalf("register with credentials: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", base+"/subjects", "", "Authorization", good); r.status != http.StatusOK || string(r.body) != `["a"]` {
		t.Fatalf("GET with credentials: %d %s", r.status, r.body)
	}
	if got := reg.Handler(); got == nil {
		t.Fatal("nil Handler")
	}
	if err := reg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), pass) {
		t.Fatalf("logs contain the password:\n%s", logs.String())
	}
}

// TestLogsChangesOnly checks one info line per change and none per read.
func TestLogsChangesOnly(t *testing.T) {
	b := testenv.Broker(t, "")
	var logs testenv.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := registry.Start(ctx, registry.Config{
		Addr:      "127.0.0.1:0",
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())},
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	base := reg.URL()
	start := strings.Count(logs.String(), "\n")

	register(t, base, "a", orderV1)
	register(t, base, "a", orderV1) // no change, no line
	setLevel(t, base, "a", "FULL")
	call(t, "DELETE", base+"/subjects/a/versions/1", "")
	for range 5 {
		call(t, "GET", base+"/subjects", "")
		call(t, "GET", base+"/subjects/a/versions?deleted=true", "")
		call(t, "GET", base+"/schemas/ids/1", "")
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")[start:]
	if len(lines) != 3 {
		t.Fatalf("got %d log lines after start, want 3:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{"schema registered", "compatibility set", "schema version deleted"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "level=INFO") {
			t.Errorf("line %d = %s, want info %q", i, lines[i], want)
		}
	}
}
