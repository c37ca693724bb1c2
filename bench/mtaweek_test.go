package bench

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestMTAWeekPhase runs the mtaweek phase as make bench does, on the
// producer's excerpt of a real MTA week (a fresh clone has no week): real
// turnstile dev and turnstile produce processes, two trials and the run
// without the lake-writer, each checked against testsupport/reference.
func TestMTAWeekPhase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "turnstile")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/turnstile-streams/turnstile/cmd/turnstile").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := Config{Readings: 1, Dir: t.TempDir(), Logger: testenv.Logger(t), PhaseTimeout: time.Minute,
		MTAWeek: "../producer/testdata/240106-excerpt.csv", MTAWeekTrials: 2, MTAWeekNoLake: true, TurnstileBin: bin}
	cfg.Defaults()
	w, err := runMTAWeek(ctx, &cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Trials) != 2 || w.NoLake == nil {
		t.Fatalf("trials: %+v, no lake: %+v", w.Trials, w.NoLake)
	}
	if w.Readings != 207 || w.DeviceWindows == 0 || w.StationWindows == 0 {
		t.Fatalf("the excerpt: %d readings, %d device and %d station windows", w.Readings, w.DeviceWindows, w.StationWindows)
	}
	for _, tr := range append(w.Trials, *w.NoLake) {
		if tr.ProducerS <= 0 || tr.EndToEndS < tr.ProducerS || tr.Ratio != tr.EndToEndS/tr.ProducerS {
			t.Fatalf("trial: %+v", tr)
		}
		// What a run's time is made of: both processes' CPU, dev's memory.
		if tr.DevCPUS <= 0 || tr.ProducerCPUS <= 0 || tr.DevPeakRSSMiB <= 0 {
			t.Fatalf("trial without dev's CPU, the producer's CPU or dev's peak RSS: %+v", tr)
		}
	}
	// results.json keeps the phase's keys: the median's figures at the top.
	b, err := json.Marshal(&w)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"producer_s", "end_to_end_s", "end_to_end_over_producer", "end_to_end_readings_per_s", "trials", "no_lake"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("results.json's mtaweek has no %q: %s", k, b)
		}
	}
	lo, hi := min(w.Trials[0].Ratio, w.Trials[1].Ratio), max(w.Trials[0].Ratio, w.Trials[1].Ratio)
	if w.Ratio != lo {
		t.Fatalf("median of %.3f and %.3f: %.3f, want the lower middle %.3f (of %v)", lo, hi, w.Ratio, lo, w.Trials)
	}
}
