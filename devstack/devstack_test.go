package devstack_test

import (
	"context"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/datalake"
	"github.com/turnstile-streams/turnstile/devstack"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestStack starts the whole stack on ephemeral ports, small: two hours
// of event time from 5 booths, produced at 3600x, on 2 partitions. It
// checks that device and station windows are published, that the lake
// gets files and the HTTP server answers, and that cancelling the context
// stops every part and closes the services.
func TestStack(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	dir, lakeDir := t.TempDir(), t.TempDir()
	var out testenv.SyncBuffer
	s, err := devstack.Start(runCtx, devstack.Config{
		DataDir:  dir,
		Registry: registry.Config{Addr: "127.0.0.1:0"},
		Pipeline: processors.Config{Partitions: 2, Retention: time.Hour, IdleTimeout: time.Second},
		Members:  1,
		HTTPAddr: "127.0.0.1:0",
		LakeDir:  lakeDir,
		Lake:     datalake.Config{FlushInterval: time.Second},
		Producer: producer.Config{Speed: 3600,
			Synthetic: producer.SyntheticConfig{Interval: time.Minute, MaxBooths: 5, Duration: 2 * time.Hour}},
		StatusInterval: time.Second,
		Stdout:         &out,
		Logger:         testenv.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait() }()

	brokers := []string{s.BrokerAddr()}
	if !strings.Contains(out.String(), "turnstile dev is running") || !strings.Contains(out.String(), s.BrokerAddr()) ||
		!strings.Contains(out.String(), s.RegistryURL()) {
		t.Errorf("banner:\n%s", out.String())
	}
	if len(s.HTTPURLs()) != 1 {
		t.Fatalf("HTTP URLs %v, want one", s.HTTPURLs())
	}
	topics := processors.DefaultTopics()
	devs, err := codecs.NewDeviceWindowCodec(codecs.Config{RegistryURL: s.RegistryURL(), Subject: schemas.Subject(topics.DeviceWindows)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range testenv.ReadN(t, ctx, brokers, topics.DeviceWindows, 10, 0) {
		w, err := devs.Unmarshal(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if w.Station == "" || w.Revision < 1 || !w.End.After(w.Start) {
			t.Errorf("device window %s: %+v", r.Key, w)
		}
	}
	testenv.ReadN(t, ctx, brokers, topics.StationWindows, 1, 0)

	// The lake-writer writes them, the member answers HTTP, the status
	// shows.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		var files int
		_ = filepath.WalkDir(lakeDir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(path, ".parquet") && !strings.Contains(path, "_staging") {
				files++
			}
			return nil
		})
		if files > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lake file in %s after a minute", lakeDir)
		}
	}
	resp, err := http.Get(s.HTTPURLs()[0] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "in/s"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no status block:\n%s", out.String())
		}
	}

	stop()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("Wait after cancel: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("still running a minute after cancel")
	}
	// (A last status block may follow it: the live status ends with the
	// other parts.)
	if !strings.Contains(out.String(), "\nturnstile dev: shutting down\n") {
		t.Errorf("no shutdown line:\n%s", out.String())
	}
	for _, addr := range []string{s.BrokerAddr(), strings.TrimPrefix(s.RegistryURL(), "http://"), strings.TrimPrefix(s.HTTPURLs()[0], "http://")} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Wait", addr)
		}
	}
	// The broker wrote its log to the data directory: the next run resumes.
	b, err := broker.Start(ctx, broker.Config{DataDir: broker.DataDirFor(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	testenv.ReadN(t, ctx, []string{b.Addr()}, topics.DeviceWindows, 10, 0)
}

// TestStartFails: a missing data directory is refused before anything
// starts, and a part that cannot start (the registry's port is taken)
// stops what had started and says which part failed.
func TestStartFails(t *testing.T) {
	if _, err := devstack.Start(context.Background(), devstack.Config{NoLake: true}); err == nil || !strings.Contains(err.Error(), "devstack: Config.DataDir is required") {
		t.Fatalf("err = %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, err = devstack.Start(context.Background(), devstack.Config{DataDir: dir, NoLake: true, NoProducer: true,
		Registry: registry.Config{Addr: ln.Addr().String()}, Logger: testenv.Logger(t)})
	if err == nil || !strings.HasPrefix(err.Error(), "devstack: registry") {
		t.Fatalf("err = %v, want the registry's", err)
	}
	// The broker was stopped and its log written: it starts again on the
	// same directory.
	b, err := broker.Start(context.Background(), broker.Config{DataDir: broker.DataDirFor(dir)})
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}
