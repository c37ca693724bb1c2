package bench

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestMain lets the memory phase re-execute the test binary as a member,
// as it does the benchmark binary.
func TestMain(m *testing.M) {
	if spec := os.Getenv(MemberEnv); spec != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		if err := RunMember(ctx, spec, nil); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "member:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestMemoryPhase runs the memory phase at a tiny size: a member process
// joins, processes the stream, publishes exactly the expected windows
// (runMemory fails otherwise), stops on SIGTERM, and its RSS was sampled.
func TestMemoryPhase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Readings: 1, MemoryReadings: 3000, Devices: 300, Dir: t.TempDir(), Logger: testenv.Logger(t), PhaseTimeout: time.Minute}
	cfg.Defaults()
	m, err := runMemory(ctx, &cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSSPeakMiB <= 0 || m.PerSecond <= 0 || m.Readings != 3000 {
		t.Fatalf("memory phase: %+v", m)
	}
	t.Logf("memory phase: %d device and %d station window corrections (REVISION > 1)", m.DeviceCorrections, m.StationCorrections)
}
