package codecs

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// The window codecs write the Avro binary with generated code
// (window_gen.go's append functions); goavro, from the same record's
// native form, is the reference. Every payload must be byte for byte
// goavro's, over random windows with the edges of every field type.

func randomString(rng *rand.Rand) string {
	switch rng.IntN(5) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("x", rng.IntN(300)) // a length of two varint bytes
	case 2:
		return "59 ST \u00e9\u4e2d\U0001F687"
	default:
		return "R" + string(rune('0'+rng.IntN(10)))
	}
}

func randomLong(rng *rand.Rand) int64 {
	edges := []int64{0, 1, -1, 63, 64, -64, -65, math.MaxInt64, math.MinInt64, math.MaxInt32, math.MinInt32}
	if rng.IntN(2) == 0 {
		return edges[rng.IntN(len(edges))]
	}
	return rng.Int64() >> rng.IntN(64)
}

func randomInt(rng *rand.Rand) int32 {
	edges := []int32{0, 1, -1, 63, 64, -64, -65, math.MaxInt32, math.MinInt32}
	if rng.IntN(2) == 0 {
		return edges[rng.IntN(len(edges))]
	}
	return rng.Int32() >> rng.IntN(32)
}

func randomTime(rng *rand.Rand) time.Time {
	// Milliseconds, before and after 1970, as the relays write them.
	return time.UnixMilli(rng.Int64N(1<<45) - 1<<44).UTC()
}

func TestWindowEncodingIsGoavros(t *testing.T) {
	dev, err := NewDeviceWindowCodec(offline())
	if err != nil {
		t.Fatal(err)
	}
	seedWriter(t, dev.e, 7)
	st, err := NewStationWindowCodec(Config{RegistryURL: "http://127.0.0.1:1", Subject: "station-windows-value"})
	if err != nil {
		t.Fatal(err)
	}
	seedWriter(t, st.e, 8)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		d := schemas.DeviceWindow{CA: randomString(rng), Unit: randomString(rng), SCP: randomString(rng),
			Station: randomString(rng), LineName: randomString(rng), Division: randomString(rng),
			Date: randomString(rng), Time: randomString(rng), Desc: randomString(rng),
			Entries: randomLong(rng), Exits: randomLong(rng), Start: randomTime(rng), End: randomTime(rng),
			Revision: randomInt(rng), Generation: randomInt(rng), EmittedAt: randomTime(rng)}
		sameAsGoavro(t, dev, &d)
		s := schemas.StationWindow{Station: randomString(rng), LineName: randomString(rng), Division: randomString(rng),
			Start: randomTime(rng), End: randomTime(rng), Entries: randomLong(rng), Exits: randomLong(rng),
			Devices: randomInt(rng), Revision: randomInt(rng), Generation: randomInt(rng), EmittedAt: randomTime(rng)}
		sameAsGoavro(t, st, &s)
	}
}

func sameAsGoavro[W any, P interface {
	*W
	Validate() error
}](t *testing.T, c *WindowCodec[W, P], w *W) {
	t.Helper()
	got, err := c.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	c.rec.native(w, m)
	want, err := c.e.encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v:\ngenerated %x\ngoavro    %x", *w, got, want)
	}
}
