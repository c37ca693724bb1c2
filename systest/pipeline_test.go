package systest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// TestPipelineMatchesReference runs one member over synthetic readings
// that arrive out of order within grace, a few delayed past their window's
// close (corrections), some twice, among malformed records and a
// tombstone: both sinks equal the reference, every malformed record is
// dead-lettered once naming its source, and every input record is
// accounted for in the member's outcome counts.
func TestPipelineMatchesReference(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	metrics, err := processors.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	runMember(t, ctx, cancel, s.config(t), metrics)

	topics := processors.DefaultTopics()
	inCodec := inputCodec(t, s)
	readings := synthetic(1, 12, 30)
	// Arrival order: local shuffles (out of order within grace), a few
	// readings delayed past their window's close (corrections), duplicates.
	rng := rand.New(rand.NewPCG(9, 9))
	arrive := append([]schemas.Reading(nil), readings...)
	for i := range arrive {
		if j := i + rng.IntN(5); j < len(arrive) {
			arrive[i], arrive[j] = arrive[j], arrive[i]
		}
	}
	for i := 0; i < 10; i++ {
		j := rng.IntN(len(arrive) / 2)
		late := arrive[j]
		arrive = append(arrive[:j], arrive[j+1:]...)
		arrive = append(arrive, late)
	}
	arrive = append(arrive, arrive[3], arrive[50], arrive[100])
	bad := [][]byte{{1, 2, 3}, {0, 0, 0, 0, 99, 1}, []byte("not avro at all"), nil /* a tombstone */}
	s.produce(t, ctx, topics.Input, inCodec, arrive, bad)

	checkSinks(t, ctx, s, reference.FromSchemas(readings))

	dead := readAll(t, ctx, s, topics.DeadLetters, len(bad))
	sources := map[string]bool{}
	for _, r := range dead {
		h := headers(r)
		if h[processors.HeaderReason] == "" || h[processors.HeaderSourceTopic] != topics.Input {
			t.Errorf("dead letter without reason or source: %v", h)
		}
		sources[deadLetterSource(h)] = true
	}
	if len(sources) != len(bad) {
		t.Errorf("dead letters name %d distinct source records, want %d", len(sources), len(bad))
	}

	// Every record accounted for: input = applied + duplicates + too late +
	// dead-lettered, each distinct reading applied once.
	// (The duplicates change no window: wait until the device stage has
	// seen them.)
	var snap processors.Snapshot
	var a, d, l float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		snap = metrics.Snapshot()
		a, d, l = snap.Outcomes[processors.OutcomeApplied], snap.Outcomes[processors.OutcomeDuplicate], snap.Outcomes[processors.OutcomeLate]
		if a+d+l >= float64(len(arrive)) || time.Now().After(deadline) {
			break
		}
	}
	if snap.Rejected != float64(len(bad)) || a+d+l != float64(len(arrive)) || a+l != float64(len(readings)) {
		t.Errorf("accounting: %d records in = %v applied + %v duplicates + %v too late + %v dead-lettered; want %d distinct readings and %d dead-lettered",
			len(arrive)+len(bad), a, d, l, snap.Rejected, len(readings), len(bad))
	}
}
