package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestProduceWrongBrokerFailsFast: turnstile produce pointed at a port
// where no broker listens fails within 15 s, naming the address and
// --brokers (not a SASL password), and reports the time it really took.
func TestProduceWrongBrokerFailsFast(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	wrong := freeAddr(t) // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	out, errOut, err := runCLI(t, ctx, map[string]string{"TURNSTILE_REGISTRY_URL": reg.URL()},
		"produce", "--brokers", wrong, "--limit", "10", "--progress", "off")
	took := time.Since(start)
	if err == nil {
		t.Fatalf("produce to %s succeeded:\n%s%s", wrong, out, errOut)
	}
	if took > 15*time.Second {
		t.Errorf("took %v to fail, want under 15 s", took)
	}
	msg := err.Error()
	for _, want := range []string{"cannot reach the broker at " + wrong, "is it running?", "--brokers"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "SASL") || strings.Contains(msg, "password") {
		t.Errorf("error %q hints at credentials", msg)
	}
	m := regexp.MustCompile(`sent 0 records \(0 bytes\), failed 0, in ([0-9.]+m?s)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	// The summary rounds to the millisecond, so it may read up to half
	// a millisecond more than the time measured here.
	if d, err := time.ParseDuration(m[1]); err != nil || d < time.Second || d > took+time.Millisecond {
		t.Errorf("summary says it took %s; it took %v", m[1], took)
	}
	t.Logf("%v: %s\nturnstile: %s", took.Round(time.Millisecond), strings.TrimSpace(out), msg)
}
