package datalake

import (
	"context"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The object stores the tests run the lake on: servers that speak the real
// APIs, in this process, on loopback. The lake reaches them through Open's
// URLs and the drivers' usual environment, as a user's lake-writer does.

// s3Lake starts an S3 server (gofakes3, in memory) with one bucket and
// returns the lake URL of prefix in it. It sets the AWS environment the
// SDK reads (credentials; no shared config files, no instance metadata),
// for this test and the child processes it starts.
func s3Lake(t *testing.T, prefix string) string {
	t.Helper()
	const bucket = "turnstile-lake"
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "turnstile",
		"AWS_SECRET_ACCESS_KEY":       "turnstile-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             none,
		"AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
	q := url.Values{"endpoint": {srv.URL}, "region": {"us-east-1"}, "use_path_style": {"true"}}
	return "s3://" + bucket + "/" + prefix + "?" + q.Encode()
}

// gcsLake starts a Cloud Storage server (fake-gcs-server, in memory, plain
// HTTP) with one bucket and returns the lake URL of prefix in it; the
// driver finds the server through STORAGE_EMULATOR_HOST, set for this test
// and the child processes it starts.
func gcsLake(t *testing.T, prefix string) string {
	t.Helper()
	const bucket = "turnstile-lake"
	// The client downloads from http://<emulator host>/<bucket>/<object>,
	// which the server routes only for its public host.
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: bucket})
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	return "gs://" + bucket + "/" + prefix
}

// storeKind is a kind of lake the tests cover; location returns a new,
// empty lake of that kind for Open.
type storeKind struct {
	name     string
	location func(t *testing.T) string
}

// lakeKinds are the kinds the Kafka-driven tests run on: a directory and
// the two object stores.
var lakeKinds = []storeKind{
	{"local", func(t *testing.T) string { return t.TempDir() }},
	{"s3", func(t *testing.T) string { return s3Lake(t, "lake") }},
	{"gcs", func(t *testing.T) string { return gcsLake(t, "lake") }},
}

// openKind opens a new, empty lake of kind k.
func openKind(t *testing.T, k storeKind) (*Store, string) {
	t.Helper()
	loc := k.location(t)
	s, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, loc
}
