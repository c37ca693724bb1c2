package testenv

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// Sinks names the sink topics whose revisions CheckRevisions counts.
type Sinks struct {
	Brokers                   []string
	Registry                  srclient.ISchemaRegistryClient
	DeviceTopic, StationTopic string
	// Generation: only this generation's revisions count.
	Generation int32
}

// codecs are the sinks' Avro codecs.
func (s Sinks) codecs(t testing.TB) (*codecs.DeviceWindowCodec, *codecs.StationWindowCodec) {
	t.Helper()
	dev, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: s.Registry, Subject: schemas.Subject(s.DeviceTopic)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := codecs.NewStationWindowCodec(codecs.Config{Client: s.Registry, Subject: schemas.Subject(s.StationTopic)})
	if err != nil {
		t.Fatal(err)
	}
	return dev, st
}

// CheckRevisions counts the distinct revisions of every window on both
// sinks and fails the test for any window with more than one whose sink
// key is not in the allowed set of its sink (nil allows every window). It
// logs the counts and returns how many windows were revised.
func CheckRevisions(t testing.TB, ctx context.Context, s Sinks, allowedDev, allowedSt map[string]bool) (devRevised, stRevised int) {
	t.Helper()
	devCodec, stCodec := s.codecs(t)
	version := func(gen, rev int32) int64 {
		if gen != s.Generation {
			return -1
		}
		return int64(rev)
	}
	dev := Revisions(t, ctx, s.Brokers, s.DeviceTopic, func(b []byte) (int64, error) {
		w, err := devCodec.Unmarshal(b)
		return version(w.Generation, w.Revision), err
	})
	st := Revisions(t, ctx, s.Brokers, s.StationTopic, func(b []byte) (int64, error) {
		w, err := stCodec.Unmarshal(b)
		return version(w.Generation, w.Revision), err
	})
	count := func(name string, revs map[string]int, allowed map[string]bool) int {
		t.Helper()
		revised, unexpected, extra := 0, 0, 0
		var sample []string
		for k, n := range revs {
			if n <= 1 {
				continue
			}
			revised++
			extra += n - 1
			if allowed != nil && !allowed[k] {
				unexpected++
				if len(sample) < 5 {
					sample = append(sample, k)
				}
			}
		}
		may := "any"
		if allowed != nil {
			may = strconv.Itoa(len(allowed))
		}
		t.Logf("generation %d: %s windows %d, revised %d (%d extra revisions); late readings may revise %s; revised without one: %d",
			s.Generation, name, len(revs), revised, extra, may, unexpected)
		if unexpected > 0 {
			t.Errorf("%d %s windows were published more than once although no late reading changes them, e.g. %v", unexpected, name, sample)
		}
		return revised
	}
	return count("device", dev, allowedDev), count("station", st, allowedSt)
}

// WaitGeneration waits until every window's latest record on both sinks
// (highest generation, then revision) equals the reference and is of
// generation gen.
func WaitGeneration(t testing.TB, ctx context.Context, s Sinks, gen int32,
	devices map[reference.DeviceKey]reference.Row, stations map[reference.StationKey]reference.Row) {
	t.Helper()
	devCodec, stCodec := s.codecs(t)
	devs := ReadSink(t, ctx, s.Brokers, s.DeviceTopic, func(b []byte) (schemas.DeviceWindow, int64, error) {
		w, err := devCodec.Unmarshal(b)
		return w, int64(w.Generation)<<32 | int64(w.Revision), err
	}, func(m map[string]schemas.DeviceWindow) string {
		return reference.DiffDevices(m, devices) + GenerationDiff(m, gen, func(w schemas.DeviceWindow) int32 { return w.Generation })
	})
	sts := ReadSink(t, ctx, s.Brokers, s.StationTopic, func(b []byte) (schemas.StationWindow, int64, error) {
		w, err := stCodec.Unmarshal(b)
		return w, int64(w.Generation)<<32 | int64(w.Revision), err
	}, func(m map[string]schemas.StationWindow) string {
		return reference.DiffStations(m, stations) + GenerationDiff(m, gen, func(w schemas.StationWindow) int32 { return w.Generation })
	})
	t.Logf("generation %d: %d device and %d station windows match the reference", gen, len(devs), len(sts))
}

// GenerationDiff names the first window of m not of generation gen ("" if none).
func GenerationDiff[W any](m map[string]W, gen int32, generation func(W) int32) string {
	for k, w := range m {
		if g := generation(w); g != gen {
			return fmt.Sprintf("\n%s is of generation %d, want %d", k, g, gen)
		}
	}
	return ""
}
