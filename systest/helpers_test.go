package systest

import (
	"testing"

	"github.com/turnstile-streams/turnstile/state"
)

func stateOptions(t *testing.T) state.Options {
	return state.Options{Dir: t.TempDir(), MemTableSize: 4 << 20, CacheSize: 8 << 20}
}
