package processors

import (
	"os"
	"runtime/debug"

	"github.com/turnstile-streams/turnstile/state"
)

// DefaultMemoryLimit is a member's default memory budget (--memory-limit).
const DefaultMemoryLimit = 256 << 20

// minGoMemoryLimit keeps the Go heap's soft limit above what a member needs
// to run at all, whatever the budget says.
const minGoMemoryLimit = 64 << 20

// ApplyMemoryLimit sets the Go runtime's soft memory limit so that a
// member's whole process stays near total bytes: total minus what Pebble
// allocates outside the Go heap for the windowed stage's table partitions
// (a member may own them all). The collector then works harder as the heap
// nears the limit instead of letting it grow to twice the live data. The
// Go heap keeps at least half of total: Pebble's worst case (both
// memtables of every partition full at once) is rare, and a soft limit far
// below the live heap makes the collector run nearly all the time (at 24
// partitions the worst-case reservation left the 64 MiB floor: 100 CPU-µs
// per reading, against 48 with 192 MiB, in make bench's curve). It returns
// the Go limit it set, or 0 when total is 0 (no limit) or GOMEMLIMIT is set
// in the environment (the operator's setting wins). The limit is
// process-wide: main calls it once.
func ApplyMemoryLimit(total int64, partitions int, st state.Options) int64 {
	if total <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	goLimit := max(total-st.ManualMemory(partitions), total/2, minGoMemoryLimit)
	debug.SetMemoryLimit(goLimit)
	return goLimit
}
