package systest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// TestMemberKilledMidStream runs the pipeline member as a child process,
// SIGKILLs it twice while it processes, restarts it on the same local
// state, and checks that every device and station window converges to the
// reference and that no (key, revision) is ever published with two
// different contents. TestMemberKilledOnce is its shorter variant for make
// test.
func TestMemberKilledMidStream(t *testing.T) {
	skipUnlessChaos(t, "to kill members; make test runs TestMemberKilledOnce")
	killMidStream(t, synthetic(3, 30, 120), 6, 2, 4)
}

// TestMemberKilledOnce is the make test variant of TestMemberKilledMidStream:
// fewer readings, one kill.
func TestMemberKilledOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts member processes")
	}
	killMidStream(t, synthetic(5, 12, 60), 4, 2)
}

// killMidStream produces readings in slices while one member runs in a
// child process; while it processes each of the kill slices, the member is
// SIGKILLed and restarted on the same local state.
func killMidStream(t *testing.T, readings []schemas.Reading, nslices int, kill ...int) {
	s := newChildStack(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	topics := processors.DefaultTopics()
	inCodec := readingCodec(t, s, topics.Input, 0)
	stateDir := t.TempDir()
	m := startMember(t, s, stateDir, 3, "")
	per := len(readings) / nslices
	for i := 0; i < nslices; i++ {
		end := (i + 1) * per
		if i == nslices-1 {
			end = len(readings)
		}
		if !slices.Contains(kill, i) {
			s.produce(t, ctx, topics.Input, inCodec, readings[i*per:end], nil)
			continue
		}
		// Kill the member while it processes a slice. waitStable may
		// still see the previous, killed member as the group's only
		// one, so this kill can also hit a member whose JoinGroup is
		// parked: the broker must expire both (third_party/kfake).
		waitStable(t, ctx, s.brokers)
		s.produce(t, ctx, topics.Input, inCodec, readings[i*per:end], nil)
		time.Sleep(300 * time.Millisecond)
		m.kill()
		t.Logf("killed the member while it processed slice %d", i)
		m = startMember(t, s, stateDir, 3, "")
	}
	convergeToReference(t, ctx, s, readings)
}
