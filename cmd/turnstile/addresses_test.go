package main

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/status"
)

// TestDevListensWhereClientsConnect: one set of TURNSTILE_* variables
// moves every port for dev and the client commands alike. dev listens
// where TURNSTILE_BROKERS, TURNSTILE_REGISTRY_URL and TURNSTILE_HTTP_ADDR
// point; turnstile status and schemas list, given the same environment,
// reach it; and the banner's commands name the moved addresses.
func TestDevListensWhereClientsConnect(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole pipeline")
	}
	dir := t.TempDir()
	kafka, reg, httpAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := map[string]string{
		"TURNSTILE_BROKERS": kafka, "TURNSTILE_REGISTRY_URL": "http://" + reg, "TURNSTILE_HTTP_ADDR": httpAddr,
		"TURNSTILE_DATA_DIR": filepath.Join(dir, "data"), "TURNSTILE_LAKE_DIR": filepath.Join(dir, "lake"),
		"TURNSTILE_PARTITIONS": "2", "TURNSTILE_QUIET": "true", "TURNSTILE_PRODUCE_MAX_BOOTHS": "5",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	devCtx, stopDev := context.WithCancel(ctx)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, err := runCLI(t, devCtx, env, "dev")
		done <- result{out, err}
	}()
	stopped := false
	stop := func() result {
		stopDev()
		r := <-done
		stopped = true
		return r
	}
	defer func() {
		if !stopped {
			stop()
		}
	}()

	for _, addr := range []string{kafka, reg, httpAddr} {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("dev does not listen on %s: %v", addr, err)
			}
		}
	}
	// The client commands find it through the same environment.
	var statusOut string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, _, err := runCLI(t, ctx, env, "status", "--json", "--watermarks=false")
		var rep status.Report
		if err == nil && json.Unmarshal([]byte(out), &rep) == nil {
			if g, ok := rep.Group("turnstile-windows"); ok && !g.Absent && g.Members == 1 && rep.DeviceWindows > 0 {
				statusOut = out
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("turnstile status with the dev environment: %v\n%s", err, out)
		}
	}
	out, _, err := runCLI(t, ctx, env, "schemas", "list")
	if err != nil || !strings.Contains(out, "mta-turnstile-value") {
		t.Fatalf("turnstile schemas list with the dev environment: %v\n%s", err, out)
	}

	r := stop()
	if r.err != nil {
		t.Fatalf("dev: %v", r.err)
	}
	for _, want := range []string{
		"Kafka broker     " + kafka,
		"Schema Registry  http://" + reg,
		"status --brokers " + kafka + "\n",
		"schemas list --registry-url http://" + reg + "\n",
		"curl http://" + reg + "/subjects",
		"http://" + httpAddr + "/metrics",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("banner lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "../shared") {
		t.Errorf("banner names a path a clone does not have:\n%s", r.out)
	}
	t.Logf("status --json: %d bytes\nbanner:\n%s", len(statusOut), r.out)
}

// TestDevListenAddresses: where dev listens, from --brokers and
// --registry-url or the deprecated --kafka-addr and --registry-addr, and
// what it refuses.
func TestDevListenAddresses(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		kafka, reg    string
		wantErr       string
		wantDeprecate string
	}{
		{"defaults", nil, "127.0.0.1:9092", "127.0.0.1:8081", "", ""},
		{"moved", []string{"--brokers", "127.0.0.1:19092", "--registry-url", "http://127.0.0.1:18081"}, "127.0.0.1:19092", "127.0.0.1:18081", "", ""},
		{"deprecated aliases win", []string{"--brokers", "127.0.0.1:19092", "--kafka-addr", "127.0.0.1:29092", "--registry-addr", "127.0.0.1:28081"},
			"127.0.0.1:29092", "127.0.0.1:28081", "", "--kafka-addr has been deprecated"},
		{"two brokers", []string{"--brokers", "a:1,b:2"}, "", "", "dev runs one broker", ""},
		{"https registry", []string{"--registry-url", "https://127.0.0.1:8081"}, "", "", "plain HTTP", ""},
		{"registry without port", []string{"--registry-url", "http://127.0.0.1"}, "", "", "want http://host:port", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRootCmd(&strings.Builder{}, &strings.Builder{}, func(string) (string, bool) { return "", false })
			cmd, _, err := root.Find([]string{"dev"})
			if err != nil {
				t.Fatal(err)
			}
			var errOut strings.Builder
			cmd.Flags().SetOutput(&errOut)
			if err := cmd.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			fs := cmd.Flags()
			brokers, _ := fs.GetStringSlice("brokers")
			regURL, _ := fs.GetString("registry-url")
			kafkaAddr, _ := fs.GetString("kafka-addr")
			regAddr, _ := fs.GetString("registry-addr")
			kafka, reg, err := devListen(cmd, brokers, regURL, kafkaAddr, regAddr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || kafka != tt.kafka || reg != tt.reg {
				t.Fatalf("listen %s, %s, %v; want %s, %s", kafka, reg, err, tt.kafka, tt.reg)
			}
			if tt.wantDeprecate != "" && !strings.Contains(errOut.String(), tt.wantDeprecate) {
				t.Errorf("no deprecation notice: %q", errOut.String())
			}
		})
	}
}
