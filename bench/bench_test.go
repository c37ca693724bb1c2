package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestSmoke runs the harness at a tiny size: the three variants must agree
// (Run fails otherwise), and the limit must agree with the independent
// reference implementation. It asserts nothing about speed.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := Config{Readings: 1500, Devices: 300, Phases: []string{PhaseThroughput, PhaseGoka}, Dir: t.TempDir(),
		Logger: testenv.Logger(t), PhaseTimeout: 20 * time.Second}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	res.Markdown(&md)
	t.Log("\n" + md.String())
	if len(res.Variants) != 3 {
		t.Fatalf("%d variants, want limit, ours, usual goka", len(res.Variants))
	}
	limit := res.Variants[0]
	// Preloaded, ordered input: Run fails on a correction; the figures
	// must still be the throughput run's and be reported.
	if ours := res.Variants[1]; ours.Name != "ours" || ours.DeviceCorrections != res.Corrections.Device ||
		ours.StationCorrections != res.Corrections.Station || res.Corrections.Device != 0 || res.Corrections.Station != 0 {
		t.Errorf("corrections: results %+v, variant %+v", res.Corrections, ours)
	}
	if !strings.Contains(md.String(), "ours published 0 device and 0 station window corrections (REVISION > 1)") {
		t.Error("the report does not state ours' corrections")
	}
	for _, v := range res.Variants {
		if v.PerSecond <= 0 || v.Devices.Windows == 0 {
			t.Errorf("%s: %+v", v.Name, v)
		}
	}

	// The same stream through testsupport/reference.
	cfg.Defaults()
	b := testenv.Broker(t, "")
	r := testenv.Registry(t, b.Addr())
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{
		Client: srclient.CreateSchemaRegistryClient(r.URL()), Subject: schemas.Subject(schemas.DefaultInputTopic)}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := newStream(&cfg, codec, res.Input.Start)
	if err != nil {
		t.Fatal(err)
	}
	var rs []reference.Reading
	stationOf := map[string][2]string{}
	for i := int64(0); i < cfg.Readings; i++ {
		rec, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		x := rec.Reading
		rs = append(rs, reference.Reading{Device: x.DeviceKey(), Station: x.Station, Line: x.LineName, Division: x.Division,
			T: rec.EventTime.UnixMilli(), Entries: x.Entries, Exits: x.Exits, ID: x.ID, Desc: x.Desc})
		stationOf[x.DeviceKey()] = [2]string{x.Station, x.LineName}
	}
	devs := reference.Devices(reference.Params{SizeMs: cfg.Window.Milliseconds(), SlideMs: cfg.Window.Milliseconds(),
		Cumulative: true, MaxDelta: cfg.MaxDelta}, rs)
	var want, wantSt Digest
	for k, row := range devs {
		want.Add(k.Device, k.Start, row.Entries, row.Exits, 0)
	}
	for k, row := range reference.Stations(devs, func(d string) (string, string) { return stationOf[d][0], stationOf[d][1] }) {
		wantSt.Add(k.Station+"|"+k.Line, k.Start, row.Entries, row.Exits, int64(row.Devices))
	}
	if limit.Devices != want || *limit.Stations != wantSt {
		t.Fatalf("the limit disagrees with testsupport/reference:\n devices  %v\n want     %v\n stations %v\n want     %v",
			limit.Devices, want, *limit.Stations, wantSt)
	}
}
