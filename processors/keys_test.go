package processors

import (
	"testing"

	"github.com/turnstile-streams/turnstile/schemas"
)

func TestControlKeysLandOnTheirPartition(t *testing.T) {
	for _, n := range []int{1, 3, 6, 12} {
		keys := controlKeys(n)
		for p, k := range keys {
			if got := schemas.Partition(k, n); got != int32(p) {
				t.Fatalf("%d partitions: key %q lands on %d, want %d", n, k, got, p)
			}
		}
	}
}
