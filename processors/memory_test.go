package processors

import (
	"runtime/debug"
	"testing"

	"github.com/turnstile-streams/turnstile/state"
)

func TestApplyMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	const mib = 1 << 20
	for _, tc := range []struct {
		name       string
		total      int64
		partitions int
		want       int64
	}{
		{"no budget", 0, 6, 0},
		// 256 - (16 MiB cache + 6 x 2 x 4 MiB memtables).
		{"default flags", DefaultMemoryLimit, 6, 192 * mib},
		// The worst case would leave 48 MiB: the Go heap keeps half.
		{"24 partitions", DefaultMemoryLimit, 24, 128 * mib},
		{"a tiny budget keeps the floor", 100 * mib, 24, minGoMemoryLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ApplyMemoryLimit(tc.total, tc.partitions, state.Options{}); got != tc.want {
				t.Fatalf("Go limit %d MiB, want %d MiB", got/mib, tc.want/mib)
			}
			if tc.want > 0 {
				if got := debug.SetMemoryLimit(-1); got != tc.want {
					t.Fatalf("runtime limit %d MiB, want %d MiB", got/mib, tc.want/mib)
				}
			}
		})
	}
	t.Run("GOMEMLIMIT wins", func(t *testing.T) {
		t.Setenv("GOMEMLIMIT", "300MiB")
		if got := ApplyMemoryLimit(DefaultMemoryLimit, 6, state.Options{}); got != 0 {
			t.Fatalf("set %d although GOMEMLIMIT is set", got)
		}
	})
}
