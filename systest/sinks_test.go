package systest

import (
	"context"
	"testing"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/internal/reference"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
)

// refParams is the reference's definition of the windows s.config asks
// for: 5-minute tumbling windows of cumulative counters, MaxDelta 10,000.
var refParams = reference.Params{SizeMs: 5 * 60_000, SlideMs: 5 * 60_000, Cumulative: true, MaxDelta: 10000}

// waitDevices reads the device sink until diff finds nothing
// (testenv.ReadSink: latest revision per key) and returns what it read.
func waitDevices(t *testing.T, ctx context.Context, s *stack, diff func(map[string]schemas.DeviceWindow) string) map[string]schemas.DeviceWindow {
	t.Helper()
	codec, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject(processors.DefaultTopics().DeviceWindows)})
	if err != nil {
		t.Fatal(err)
	}
	return readSink(t, ctx, s, processors.DefaultTopics().DeviceWindows, func(b []byte) (schemas.DeviceWindow, int32, error) {
		w, err := codec.Unmarshal(b)
		return w, w.Revision, err
	}, diff)
}

// waitStations is waitDevices for the station sink.
func waitStations(t *testing.T, ctx context.Context, s *stack, diff func(map[string]schemas.StationWindow) string) map[string]schemas.StationWindow {
	t.Helper()
	codec, err := codecs.NewStationWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject(processors.DefaultTopics().StationWindows)})
	if err != nil {
		t.Fatal(err)
	}
	return readSink(t, ctx, s, processors.DefaultTopics().StationWindows, func(b []byte) (schemas.StationWindow, int32, error) {
		w, err := codec.Unmarshal(b)
		return w, w.Revision, err
	}, diff)
}

// checkSinks waits until both sink topics hold exactly the reference's
// windows over readings (every key, latest revision) and returns the
// device reference. A reference without windows proves nothing and fails.
func checkSinks(t *testing.T, ctx context.Context, s *stack, readings []reference.Reading) map[reference.DeviceKey]reference.Row {
	t.Helper()
	want := reference.Devices(refParams, readings)
	wantSt := reference.StationsOf(want, readings)
	if len(want) == 0 || len(wantSt) == 0 {
		t.Fatalf("the reference has %d device and %d station windows", len(want), len(wantSt))
	}
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string { return matchesDevices(m, want) })
	waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string { return matchesStations(m, wantSt) })
	return want
}
