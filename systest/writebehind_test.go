package systest

import (
	"context"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// TestWriteBehind: a burst of readings, many per device, publishes the
// reference either way; held back (the default), the windows table's
// changelog gets a device's value once per flush, so far fewer records
// than readings, where written through it gets one per reading.
func TestWriteBehind(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys int
	}{
		{"held back", 0},
		{"written through", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := s.config(t)
			cfg.WriteBehindKeys = tc.keys
			runMember(t, ctx, cancel, cfg, nil)
			readings := synthetic(4, 12, 60)
			s.produce(t, ctx, processors.DefaultTopics().Input, inputCodec(t, s), readings, nil)
			checkSinks(t, ctx, s, reference.FromSchemas(readings))
			changelog := endOffset(t, ctx, s, processors.DefaultGroups().Windows+"-table")
			t.Logf("%d readings, %d changelog records", len(readings), changelog)
			if tc.keys < 0 && changelog < int64(len(readings)) {
				t.Errorf("written through: %d changelog records for %d readings, want one per reading at least", changelog, len(readings))
			}
			if tc.keys >= 0 && changelog > int64(len(readings))/2 {
				t.Errorf("held back: %d changelog records for %d readings, want under half", changelog, len(readings))
			}
		})
	}
}
