package bench

import (
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestLayoutFor: the default 5,000 devices are one copy of the reference
// (7 per booth over 715 booths, as before copies existed); more devices
// keep 7 per booth and repeat the reference.
func TestLayoutFor(t *testing.T) {
	for _, tc := range []struct{ devices, replicas, booths, per int }{
		{300, 1, 300, 1},
		{5000, 1, 715, 7},
		{5376, 1, 768, 7},
		{5377, 2, 385, 7},
		{50_000, 10, 715, 7},
		{200_000, 38, 752, 7},
	} {
		r, b, p := layoutFor(tc.devices)
		if r != tc.replicas || b != tc.booths || p != tc.per {
			t.Errorf("layoutFor(%d) = %d copies × %d booths × %d devices, want %d × %d × %d", tc.devices, r, b, p, tc.replicas, tc.booths, tc.per)
		}
		if n := r * b * p; n < tc.devices || n >= tc.devices+r*p {
			t.Errorf("layoutFor(%d): %d devices", tc.devices, n)
		}
	}
}

// TestStreamScalesStations: beyond one copy of the station reference the
// stream's stations grow with its devices (~11 devices per station), every
// record is a valid reading under its own reading key, in event-time
// order, and a copy's devices and stations are new ones.
func TestStreamScalesStations(t *testing.T) {
	codec := inputCodec(t)
	stationsOf := func(devices int) (map[string]bool, map[string]bool) {
		cfg := Config{Devices: devices}
		cfg.Defaults()
		st, err := newStream(&cfg, codec, cfg.Start)
		if err != nil {
			t.Fatal(err)
		}
		devs, stations := map[string]bool{}, map[string]bool{}
		var last int64
		// Two intervals: every device reads at least once.
		for i := 0; i < 2*devices+devices/4; i++ {
			rec, err := st.Next()
			if err != nil {
				t.Fatal(err)
			}
			x, err := codec.DecodeReading(rec.Value)
			if err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if err := x.Validate(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			if string(rec.Key) != x.Key() || x.Station != rec.Reading.Station || x.CA != rec.Reading.CA {
				t.Fatalf("record %d: key %q, encoded %+v, reading %+v", i, rec.Key, x, rec.Reading)
			}
			if ms := rec.EventTime.UnixMilli(); ms < last {
				t.Fatalf("record %d: event time %v before the previous record's", i, rec.EventTime)
			} else {
				last = ms
			}
			devs[x.DeviceKey()], stations[x.StationKey()] = true, true
		}
		return devs, stations
	}
	devs1, st1 := stationsOf(5000)
	devs3, st3 := stationsOf(15_000)
	t.Logf("5,000 devices: %d devices, %d stations; 15,000: %d devices, %d stations", len(devs1), len(st1), len(devs3), len(st3))
	if len(devs1) != 5005 || len(devs3) != 15_015 {
		t.Errorf("devices: %d and %d, want 5,005 and 15,015 (3 copies × 715 booths × 7)", len(devs1), len(devs3))
	}
	// Three copies of the first 715 booths: three times the stations.
	if len(st3) != 3*len(st1) {
		t.Errorf("15,000 devices make %d stations, want 3 × %d", len(st3), len(st1))
	}
	copies := 0
	for s := range st3 {
		if strings.Contains(s, " #3|") {
			copies++
		}
	}
	if copies != len(st1) {
		t.Errorf("%d stations of the third copy, want %d", copies, len(st1))
	}
}

// TestPregeneratedIsTheStream: the latency phase's pregenerated readings
// are the stream's, record for record (key, value, event time), and their
// keys are reading keys, from which the phase takes each device.
func TestPregeneratedIsTheStream(t *testing.T) {
	codec := inputCodec(t)
	cfg := Config{Devices: 6000} // two copies of the reference: renamed records too
	cfg.Defaults()
	stream := func() *stream {
		st, err := newStream(&cfg, codec, cfg.Start)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	const n = 15000
	pre, err := pregenerate(stream(), n)
	if err != nil {
		t.Fatal(err)
	}
	if pre.len() != n {
		t.Fatalf("%d readings pregenerated, want %d", pre.len(), n)
	}
	want := stream()
	for i := range n {
		rec, err := want.Next()
		if err != nil {
			t.Fatal(err)
		}
		key, value, evt := pre.at(i)
		if string(key) != string(rec.Key) || string(value) != string(rec.Value) || evt != rec.EventTime.UnixMilli() {
			t.Fatalf("reading %d: key %q, %d value bytes, event time %d; the stream's %q, %d, %d",
				i, key, len(value), evt, rec.Key, len(rec.Value), rec.EventTime.UnixMilli())
		}
		if _, dev, ok := schemas.SplitReadingKey(string(key)); !ok || dev != rec.Reading.DeviceKey() {
			t.Fatalf("reading %d: key %q does not end in its device %q", i, key, rec.Reading.DeviceKey())
		}
	}
}

// inputCodec is the input topic's reading codec against an embedded broker
// and registry of the test's own.
func inputCodec(t *testing.T) *codecs.ReadingCodec {
	t.Helper()
	b := testenv.Broker(t, "")
	r := testenv.Registry(t, b.Addr())
	codec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{
		Client: srclient.CreateSchemaRegistryClient(r.URL()), Subject: schemas.Subject(schemas.DefaultInputTopic)}, MaxFuture: -1})
	if err != nil {
		t.Fatal(err)
	}
	return codec
}
