package dashboard_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/dashboard"
	"github.com/turnstile-streams/turnstile/schemas"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestEventsGolden: the data of each event GET /events serves, for window
// records published with fixed keys and timestamps, is byte for byte
// testdata/events.golden (one event a line, sorted), captured before the
// window records were derived from their one declaration.
func TestEventsGolden(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s := newSinks(t)
	at := time.Date(2023, 12, 30, 0, 0, 0, 0, time.UTC)
	published := time.Date(2024, 1, 6, 10, 11, 13, 0, time.UTC)
	emitted := time.Date(2024, 1, 6, 10, 11, 12, 345e6, time.UTC)
	stations := []schemas.StationWindow{
		{Station: "59 ST", LineName: "NQR456W", Division: "BMT", Start: at, End: at.Add(4 * time.Hour),
			Entries: 1234, Exits: 987, Devices: 12, Revision: 1, EmittedAt: emitted},
		{Station: `INWOOD "207" ST <b>`, LineName: "A", Division: "IND", Start: at.Add(4 * time.Hour), End: at.Add(8 * time.Hour),
			Entries: 0, Exits: 1 << 40, Devices: 0, Revision: 3, Generation: 2, EmittedAt: emitted.Add(time.Hour)},
	}
	devices := []schemas.DeviceWindow{
		{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W", Division: "BMT",
			Desc: "REGULAR", Entries: 5, Exits: 14, Revision: 1, EmittedAt: emitted},
		{CA: "R001", Unit: "R101", SCP: "00-00-00", Station: "JFK JAMAICA CT1 — Ñ", LineName: "E", Division: "IND",
			Desc: "RECOVR AUD", Entries: 1 << 40, Exits: 0, Revision: 2, Generation: 1, EmittedAt: emitted.Add(time.Hour)},
	}
	devices[0].SetWindow(at, at.Add(4*time.Hour), nil)
	devices[1].SetWindow(at.Add(4*time.Hour), at.Add(8*time.Hour), schemas.DefaultLocation())

	for _, w := range stations {
		produceAt(t, ctx, s, schemas.DefaultStationWindowsTopic, schemas.StationWindowKey(w.StationKey(), w.Start), published, s.st.Marshal, &w)
	}
	for _, w := range devices {
		produceAt(t, ctx, s, schemas.DefaultDeviceWindowsTopic, schemas.DeviceWindowKey(w.DeviceKey(), w.Start), published, s.dev.Marshal, &w)
	}

	_, base := startHub(t, ctx, s, dashboard.HubConfig{}, nil)
	st, err := openStream(t, ctx, base+"/events", "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range st.take(t, len(stations)+len(devices), 30*time.Second) {
		got = append(got, e.raw)
	}
	slices.Sort(got)
	text := strings.Join(got, "\n") + "\n"

	path := filepath.Join("testdata", "events.golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if text != string(want) {
		t.Errorf("events differ from %s:\n--- got\n%s--- want\n%s", path, text, want)
	}
}

// produceAt publishes window w, keyed key, with timestamp ts.
func produceAt[W any](t *testing.T, ctx context.Context, s *sinks, topic, key string, ts time.Time, marshal func(*W) ([]byte, error), w *W) {
	t.Helper()
	b, err := marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	res := s.client.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: b, Timestamp: ts})
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
}
