package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestProcessRefusesUnusableDataDir: turnstile process with a --data-dir it
// cannot use (here a regular file; as another user also a directory
// without write permission) exits non-zero within 10 s with one line that
// names the path and the cause, before it sends a single JoinGroup: the
// healthy member beside it on the same broker keeps its assignment.
func TestProcessRefusesUnusableDataDir(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	env := map[string]string{"TURNSTILE_BROKERS": b.Addr(), "TURNSTILE_REGISTRY_URL": reg.URL()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, _, err := runCLI(t, ctx, env, "schemas", "register"); err != nil {
		t.Fatal(err)
	}

	// The healthy member.
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	memberCtx, stopMember := context.WithCancel(ctx)
	memberDone := make(chan error, 1)
	go func() {
		_, _, err := runCLI(t, memberCtx, env, "process", "--data-dir", filepath.Join(dir, "healthy"), "--http-addr", httpAddr,
			"--quiet", "--partitions", "2", "--memory-limit", "0")
		memberDone <- err
	}()
	defer func() {
		stopMember()
		if err := <-memberDone; err != nil {
			t.Errorf("healthy member: %v", err)
		}
	}()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the healthy member is not ready after 90 s (last: %v)", err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var groups []string
	for _, g := range (processors.Config{}).ConsumerGroups() {
		groups = append(groups, g.Group)
	}
	assignments := func() map[string]string {
		t.Helper()
		described, err := adm.DescribeGroups(ctx, groups...)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, g := range described.Sorted() {
			var members []string
			for _, m := range g.Members {
				members = append(members, m.MemberID)
			}
			out[g.Group] = g.State + " " + strings.Join(members, ",")
		}
		return out
	}
	before := assignments()
	for g, s := range before {
		if !strings.HasPrefix(s, "Stable ") {
			t.Fatalf("group %s is %s before the test", g, s)
		}
	}

	// Count the members that ask to join any group from now on (a new
	// member's first JoinGroup has no member id; the healthy member's own
	// rejoins, if any, carry theirs).
	var joins atomic.Int32
	b.Cluster().ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if jr, ok := req.(*kmsg.JoinGroupRequest); ok && jr.MemberID == "" {
			joins.Add(1)
		}
		return nil, nil, false
	})

	file := filepath.Join(dir, "not-a-directory")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		path string // the path the message must name
	}{
		{"data dir is a file", []string{"--data-dir", file}, file},
		{"state dir under a file", []string{"--data-dir", dir, "--state-dir", filepath.Join(file, "state")}, filepath.Join(file, "state")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			out, errOut, err := runCLI(t, runCtx, env, append([]string{"process", "--http-addr", "", "--quiet", "--partitions", "2", "--memory-limit", "0"}, tt.args...)...)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("process succeeded:\n%s%s", out, errOut)
			}
			if took > 10*time.Second {
				t.Errorf("took %v to fail, want under 10 s", took)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.path) || !strings.Contains(msg, "not a directory") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and the cause", msg, tt.path)
			}
			t.Logf("failed in %v: turnstile: %s", took.Round(time.Millisecond), msg)
		})
	}
	if n := joins.Load(); n != 0 {
		t.Errorf("%d new members asked to join a group", n)
	}
	if after := assignments(); !mapsEqual(before, after) {
		t.Errorf("the healthy member's groups changed:\nbefore %v\nafter  %v", before, after)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
