package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// cliRun is one turnstile command running in this process.
type cliRun struct {
	name        string
	stdout, err *testenv.SyncBuffer
	done        chan error
	cancel      context.CancelFunc
}

// startCLI runs a turnstile command in the background until stop (or the
// test's end); env is its environment.
func startCLI(t *testing.T, env map[string]string, args ...string) *cliRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &cliRun{name: args[0], stdout: &testenv.SyncBuffer{}, err: &testenv.SyncBuffer{}, done: make(chan error, 1), cancel: cancel}
	root := newRootCmd(r.stdout, r.err, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	root.SetArgs(args)
	go func() { r.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the command and waits for it; it returns its error.
func (r *cliRun) stop(t *testing.T) error {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for a later stop
		return err
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop", r.name)
		return nil
	}
}

// waitLog waits until the command logs a line containing msg; it fails
// the test if the command exits first.
func (r *cliRun) waitLog(t *testing.T, ctx context.Context, msg string) {
	t.Helper()
	for !strings.Contains(r.err.String(), msg) {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("%s exited: %v\n%s", r.name, err, tail(r.err.String(), 3000))
		case <-ctx.Done():
			t.Fatalf("%s never logged %q:\n%s", r.name, msg, tail(r.err.String(), 3000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runCLISync runs a command to completion with a timeout and records its
// output for the secret check.
func runCLISync(t *testing.T, out *[]string, env map[string]string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stdout, stderr, err := runCLI(t, ctx, env, args...)
	*out = append(*out, stdout, stderr)
	if err != nil {
		*out = append(*out, err.Error())
	}
	return stdout + stderr, err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSecureStackEndToEnd runs the real commands the way a user deploys
// them against a secured cluster: the embedded broker with SCRAM-SHA-512
// over TLS, the registry with basic auth, and schemas, process, lake and
// produce configured only by --kafka-config (security.protocol=SASL_SSL,
// sasl.*, ssl.ca.location, schema.registry.url, basic.auth.user.info) and
// TURNSTILE_* variables. Windows must come out of the sink topic and the
// lake; wrong credentials must fail; and neither password may appear in
// any output, log line (at debug level) or error.
func TestSecureStackEndToEnd(t *testing.T) {
	const (
		kafkaPass = "Kafka-Pw-7d41c9"
		regPass   = "Registry-Pw-3be802"
	)
	certs := testenv.TLS(t)
	kafkaAddr, regAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	props := filepath.Join(dir, "client.properties")
	writeProps := func(path, kafkaPw, regPw string) {
		t.Helper()
		text := strings.Join([]string{
			"# a client.properties as the original pipeline used",
			"bootstrap.servers=" + kafkaAddr,
			"security.protocol=SASL_SSL",
			"sasl.mechanism=SCRAM-SHA-512",
			"sasl.username=turnstile",
			"sasl.password=" + kafkaPw,
			"ssl.ca.location=" + certs.CA,
			"schema.registry.url=http://" + regAddr,
			"basic.auth.user.info=pipeline:" + regPw,
			"client.id=ignored-by-turnstile",
		}, "\n")
		if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeProps(props, kafkaPass, regPass)
	var outputs []string
	var bg []*cliRun

	bg = append(bg, startCLI(t, nil, "broker", "--log-level", "debug", "--kafka-addr", kafkaAddr, "--data-dir", filepath.Join(dir, "broker"),
		"--sasl-user", "SCRAM-SHA-512:turnstile:"+kafkaPass, "--tls-cert", certs.Cert, "--tls-key", certs.Key))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	// Like any client, the registry needs a running broker to start.
	bg[0].waitLog(t, ctx, "broker ready")
	// The registry's own password comes from the environment.
	bg = append(bg, startCLI(t, map[string]string{"TURNSTILE_BASIC_AUTH_PASSWORD": regPass},
		"registry", "--log-level", "debug", "--kafka-config", props, "--registry-addr", regAddr, "--basic-auth-user", "pipeline"))
	// The registry answers only with the right credentials.
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+regAddr+"/subjects", nil)
		req.SetBasicAuth("pipeline", regPass)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("registry with credentials: %s", resp.Status)
			}
			break
		}
		select {
		case rerr := <-bg[1].done:
			bg[1].done <- rerr
			t.Fatalf("registry: %v\n%s", rerr, bg[1].err)
		case <-ctx.Done():
			t.Fatalf("registry never came up: %v\n%s", err, bg[1].err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	resp, err := http.Get("http://" + regAddr + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("registry without credentials: %s", resp.Status)
	}

	if out, err := runCLISync(t, &outputs, nil, 60*time.Second, "schemas", "register", "--kafka-config", props); err != nil {
		t.Fatalf("schemas register: %v\n%s", err, out)
	}
	bg = append(bg, startCLI(t, nil, "process", "--log-level", "debug", "--kafka-config", props, "--data-dir", filepath.Join(dir, "proc"),
		"--partitions", "2", "--idle-timeout", "2s", "--max-future=-1s", "--session-timeout", "6s"))
	lakeDir := filepath.Join(dir, "lake")
	bg = append(bg, startCLI(t, map[string]string{"TURNSTILE_FLUSH_INTERVAL": "1s"}, "lake", "--log-level", "debug",
		"--kafka-config", props, "--lake-dir", lakeDir))

	// The processors create the topics.
	bg[2].waitLog(t, ctx, "processors running")
	out, err := runCLISync(t, &outputs, nil, 90*time.Second, "produce", "--log-level", "debug", "--kafka-config", props,
		"--limit", "200", "--speed=-1", "--start", "2024-01-06T00:00:00Z", "--interval", "1m", "--max-booths", "2",
		"--devices-per-booth", "2", "--progress", "off")
	if err != nil || !strings.Contains(out, "sent 200 records") {
		t.Fatalf("produce: %v\n%s", err, out)
	}

	// Windows reach the sink topic (read over SASL_SSL with the same file)
	// and the lake.
	var cc clientconf.Config
	if _, err := cc.LoadProperties(props, nil); err != nil {
		t.Fatal(err)
	}
	kopts, err := cc.KgoOpts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(kopts, kgo.ConsumeTopics(schemas.DefaultDeviceWindowsTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dec, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: cc.SRClient(), Subject: schemas.Subject(schemas.DefaultDeviceWindowsTopic)})
	if err != nil {
		t.Fatal(err)
	}
	windows := 0
	for windows < 10 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d device windows; process log:\n%s", windows, tail(bg[2].err.String(), 3000))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, err := dec.Unmarshal(r.Value); err != nil {
				t.Errorf("device window: %v", err)
			}
			windows++
		})
	}
	for {
		var parquet int
		_ = filepath.WalkDir(lakeDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".parquet") && strings.Contains(p, "device-windows/dt=") {
				parquet++
			}
			return nil
		})
		if parquet > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no Parquet file in the lake; lake log:\n%s", tail(bg[3].err.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Wrong settings fail, without echoing secrets. (The embedded broker
	// closes the connection on a wrong SCRAM password, which a client cannot
	// tell from an outage, so that producer waits; it must send nothing.)
	badKafka := filepath.Join(dir, "bad-kafka.properties")
	writeProps(badKafka, "Wrong-Kafka-Pw-55", regPass)
	out, _ = runCLISync(t, &outputs, nil, 5*time.Second, "produce", "--log-level", "debug", "--kafka-config", badKafka,
		"--limit", "1", "--speed=-1", "--progress", "off")
	if !strings.Contains(out, "sent 0 records") {
		t.Errorf("produce with a wrong Kafka password:\n%s", out)
	}
	otherCA := filepath.Join(dir, "other-ca.properties")
	writeProps(otherCA, kafkaPass, regPass)
	text, _ := os.ReadFile(otherCA)
	if err := os.WriteFile(otherCA, []byte(strings.ReplaceAll(string(text), certs.CA, testenv.TLS(t).CA)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLISync(t, &outputs, nil, 30*time.Second, "produce", "--kafka-config", otherCA, "--limit", "1", "--speed=-1", "--progress", "off")
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("produce trusting another CA: %v\n%s", err, out)
	}
	badReg := filepath.Join(dir, "bad-registry.properties")
	writeProps(badReg, kafkaPass, "Wrong-Registry-Pw-66")
	if out, err := runCLISync(t, &outputs, nil, 30*time.Second, "schemas", "list", "--kafka-config", badReg); err == nil {
		t.Errorf("schemas list with a wrong registry password succeeded:\n%s", out)
	}
	if out, err := runCLISync(t, &outputs, map[string]string{"TURNSTILE_REGISTRY_PASSWORD": "Wrong-Registry-Pw-77"}, 30*time.Second,
		"produce", "--kafka-config", props, "--limit", "1", "--progress", "off"); err == nil {
		t.Errorf("produce with a wrong registry password (environment) succeeded:\n%s", out)
	}

	for _, r := range bg {
		if err := r.stop(t); err != nil {
			t.Errorf("%s: %v", r.name, err)
		}
		outputs = append(outputs, r.stdout.String(), r.err.String())
	}
	for _, secret := range []string{kafkaPass, regPass, "Wrong-Kafka-Pw-55", "Wrong-Registry-Pw-66", "Wrong-Registry-Pw-77"} {
		for _, o := range outputs {
			if i := strings.Index(o, secret); i >= 0 {
				t.Errorf("secret %s in output: ...%s...", secret, o[max(0, i-300):min(len(o), i+100)])
			}
		}
	}
	logged := 0
	for _, o := range outputs {
		logged += len(o)
	}
	t.Logf("%d device windows read over SASL_SSL; %d bytes of output checked for secrets", windows, logged)
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// TestListenersDefaultToLoopback: every listen-address flag of every
// command (…-addr) defaults to a loopback address, so nothing is reachable
// from the network unless configured.
func TestListenersDefaultToLoopback(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{}, func(string) (string, bool) { return "", false })
	checked := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !strings.HasSuffix(f.Name, "-addr") {
				return
			}
			checked++
			if f.DefValue == "" {
				return // off unless set
			}
			host, _, err := net.SplitHostPort(f.DefValue)
			if err != nil {
				t.Errorf("%s --%s: default %q: %v", c.CommandPath(), f.Name, f.DefValue, err)
				return
			}
			if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				t.Errorf("%s --%s defaults to %q, not a loopback address", c.CommandPath(), f.Name, f.DefValue)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if checked < 3 {
		t.Fatalf("only %d listen-address flags found", checked)
	}
	t.Log(fmt.Sprintf("%d listen-address flags checked", checked))
}
