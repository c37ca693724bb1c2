package bench

import (
	"testing"
	"time"
)

// TestProcCPU: the CPU time read from /proc/<pid>/stat (how the curve
// measures a member process) agrees with getrusage for this process.
func TestProcCPU(t *testing.T) {
	x := 0
	for began := time.Now(); time.Since(began) < 200*time.Millisecond; {
		x++
	}
	self, proc := cpuTime(), procCPU("/proc/self")
	if proc <= 0 || proc > self+20*time.Millisecond || proc < self-50*time.Millisecond {
		t.Fatalf("/proc/self/stat says %v of CPU, getrusage %v (%d spins)", proc, self, x)
	}
}
