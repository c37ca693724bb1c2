package codecs

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestReadingEncodingIsGoavros encodes random readings, with the edges of
// every field type, with each shipped writer version, and checks each
// payload byte for byte against goavro's encoding of ReadingNative.
func TestReadingEncodingIsGoavros(t *testing.T) {
	for _, v := range schemas.ReadingVersions() {
		c := newReadingCodec(t, ReadingConfig{Config: offline(), WriterVersion: v})
		if c.enc == nil {
			t.Fatalf("v%d: the shipped writer schema is not encoded directly", v)
		}
		seedWriter(t, c.e, 5)
		rng := rand.New(rand.NewPCG(5, uint64(v)))
		for i := range 5000 {
			r := schemas.Reading{CA: randomString(rng), Unit: randomString(rng), SCP: randomString(rng),
				Station: randomString(rng), LineName: randomString(rng), Division: randomString(rng),
				Date: randomString(rng), Time: randomString(rng), Desc: randomString(rng),
				Entries: randomLong(rng), Exits: randomLong(rng), ID: randomString(rng), Timestamp: randomString(rng)}
			if rng.IntN(2) == 0 {
				// Sub-millisecond times too: both truncate to the millisecond.
				r.EventTime = randomTime(rng).Add(time.Duration(rng.IntN(1e6)))
			}
			if rng.IntN(2) == 0 {
				r.Source = randomString(rng)
			}
			got, err := c.EncodeReading(&r)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.e.encode(ReadingNative(&r))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d reading %d %+v:\ngot  %x\nwant %x (goavro)", v, i, r, got, want)
			}
		}
	}
}

// TestReadingEncoderFallsBack checks which writer schemas the direct
// encoder takes and that it leaves the others to goavro.
func TestReadingEncoderFallsBack(t *testing.T) {
	const head = `{"type":"record","name":"TurnstileReading","namespace":"nyc.mta.turnstile","fields":[`
	const base = `{"name":"CA","type":"string"},{"name":"ENTRIES","type":"long"}`
	for _, tc := range []struct {
		name   string
		schema string
		direct bool
	}{
		{"plain fields", head + base + `]}`, true},
		{"nullable event time, null second", head + base + `,{"name":"EVENT_TIME","type":[{"type":"long","logicalType":"timestamp-millis"},"null"]}]}`, true},
		{"a field the reading lacks", head + base + `,{"name":"GEO","type":["null","string"],"default":null}]}`, false},
		{"ENTRIES as int", head + `{"name":"CA","type":"string"},{"name":"ENTRIES","type":"int"}]}`, false},
		{"CA nullable", head + `{"name":"CA","type":["null","string"]},{"name":"ENTRIES","type":"long"}]}`, false},
		{"EVENT_TIME required", head + base + `,{"name":"EVENT_TIME","type":{"type":"long","logicalType":"timestamp-millis"}}]}`, false},
		{"EVENT_TIME in micros", head + base + `,{"name":"EVENT_TIME","type":["null",{"type":"long","logicalType":"timestamp-micros"}]}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := parseSchema(tc.schema)
			if err != nil {
				t.Fatal(err)
			}
			if got := newReadingEncoder(w) != nil; got != tc.direct {
				t.Fatalf("encoded directly: %v, want %v", got, tc.direct)
			}
		})
	}
}
