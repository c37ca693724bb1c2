package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gocloud.dev/blob"
	"gopkg.in/yaml.v3"

	"github.com/turnstile-streams/turnstile/datalake"
)

// TestComposeUsesRealFlags keeps docker-compose.yml honest: every service
// built from this repo runs a real subcommand, and every TURNSTILE_*
// variable it sets is the environment variable of a flag of that command.
func TestComposeUsesRealFlags(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
	ours := 0
	for name, svc := range compose.Services {
		if svc.Build == nil {
			continue
		}
		ours++
		cmd, rest, err := root.Find(svc.Command)
		if err != nil || cmd == root || len(rest) > 0 {
			t.Errorf("service %s: command %v is not a turnstile subcommand", name, svc.Command)
			continue
		}
		known := map[string]bool{}
		for c := cmd; c != nil; c = c.Parent() {
			collect := func(c *cobra.Command) {
				c.LocalFlags().VisitAll(func(f *pflag.Flag) { known[envName(f.Name)] = true })
				c.PersistentFlags().VisitAll(func(f *pflag.Flag) { known[envName(f.Name)] = true })
			}
			collect(c)
		}
		for k := range svc.Environment {
			if !strings.HasPrefix(k, envPrefix) {
				continue
			}
			if !known[k] {
				t.Errorf("service %s (turnstile %s) sets %s, which no flag of that command reads", name, strings.Join(svc.Command, " "), k)
			}
		}
	}
	if ours < 4 {
		t.Fatalf("only %d services build this repo", ours)
	}
}

// TestComposeLakeOnMinIO keeps the compose stack's lake in its bucket: the
// lake service writes to an s3:// URL whose endpoint is the minio service,
// whose bucket minio-init creates before the lake starts, with MinIO's own
// credentials; and that URL, pointed at an S3 server in this process,
// opens, lists and writes through the lake's driver.
func TestComposeLakeOnMinIO(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			DependsOn   yaml.Node         `yaml:"depends_on"` // a list or a map
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"minio", "minio-init", "lake"} {
		if _, ok := compose.Services[name]; !ok {
			t.Fatalf("no service %s", name)
		}
		for k, v := range compose.Services[name].Environment {
			compose.Services[name].Environment[k] = composeDefaults(v)
		}
	}
	minio, initSvc, lake := compose.Services["minio"], compose.Services["minio-init"], compose.Services["lake"]

	if !strings.Contains(minio.Image, "minio/minio:RELEASE.") || len(minio.Command) == 0 || minio.Command[0] != "server" {
		t.Errorf("minio: image %q command %v: want a pinned MinIO server", minio.Image, minio.Command)
	}
	if !contains(minio.Ports, "127.0.0.1:9000:9000") {
		t.Errorf("minio: ports %v do not publish the S3 API on 127.0.0.1:9000", minio.Ports)
	}
	user, pass := minio.Environment["MINIO_ROOT_USER"], minio.Environment["MINIO_ROOT_PASSWORD"]
	if len(user) < 3 || len(pass) < 8 {
		t.Errorf("minio: root user %q / password %q too short for MinIO", user, pass)
	}
	if want := "http://" + user + ":" + pass + "@minio:9000"; initSvc.Environment["MC_HOST_local"] != want {
		t.Errorf("minio-init: MC_HOST_local = %q, want %q", initSvc.Environment["MC_HOST_local"], want)
	}
	if !strings.Contains(initSvc.Image, "minio/mc:RELEASE.") {
		t.Errorf("minio-init: image %q, want a pinned mc", initSvc.Image)
	}
	script := strings.Join(initSvc.Command, " ")
	m := regexp.MustCompile(`mc mb --ignore-existing local/([a-z0-9.-]+)`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("minio-init: %q creates no bucket", script)
	}
	bucket := m[1]

	var deps map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := lake.DependsOn.Decode(&deps); err != nil {
		t.Fatalf("lake: depends_on: %v (want a map with conditions)", err)
	}
	if c := deps["minio-init"].Condition; c != "service_completed_successfully" {
		t.Errorf("lake: depends on minio-init with condition %q, want service_completed_successfully", c)
	}
	lakeURL := lake.Environment["TURNSTILE_LAKE_DIR"]
	u, err := url.Parse(lakeURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "s3" || u.Host != bucket || q.Get("endpoint") != "http://minio:9000" || q.Get("use_path_style") != "true" || q.Get("region") == "" {
		t.Errorf("lake: TURNSTILE_LAKE_DIR = %s, want s3://%s/... with endpoint=http://minio:9000, use_path_style=true and a region", lakeURL, bucket)
	}
	if lake.Environment["AWS_ACCESS_KEY_ID"] != user || lake.Environment["AWS_SECRET_ACCESS_KEY"] != pass {
		t.Errorf("lake: AWS credentials %q / %q are not MinIO's", lake.Environment["AWS_ACCESS_KEY_ID"], lake.Environment["AWS_SECRET_ACCESS_KEY"])
	}

	// The same URL against an S3 server here instead of minio:9000.
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	defer srv.Close()
	q.Set("endpoint", srv.URL)
	u.RawQuery = q.Encode()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": user, "AWS_SECRET_ACCESS_KEY": pass, "AWS_CONFIG_FILE": none,
		"AWS_SHARED_CREDENTIALS_FILE": none, "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	store, err := datalake.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := datalake.Compact(ctx, datalake.CompactConfig{Store: store}); err != nil {
		t.Fatalf("listing the lake at %s: %v", u, err)
	}
	bu := *u
	bu.Path = "" // the bucket itself; the lake's prefix is lake/
	b, err := blob.OpenBucket(ctx, bu.String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, "lake/probe", []byte("ok"), nil); err != nil {
		t.Fatalf("writing to %s: %v", u, err)
	}
	if got, err := b.ReadAll(ctx, "lake/probe"); err != nil || string(got) != "ok" {
		t.Fatalf("reading back: %q, %v", got, err)
	}
}

// composeDefaults expands ${VAR:-default} as docker compose does with VAR
// unset.
func composeDefaults(s string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(s, "$1")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
