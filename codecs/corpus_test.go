package codecs

import (
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzDecode, the committed
// seed corpus: the golden vectors, a v3 record exercising every Avro type,
// and one payload per rejection reason. Run it with
//
//	TURNSTILE_WRITE_CORPUS=1 go test -run TestWriteFuzzCorpus ./codecs
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("TURNSTILE_WRITE_CORPUS") == "" {
		t.Skip("set TURNSTILE_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	c := fuzzCodec(t)
	seeds := map[string][]byte{}
	for _, v := range loadVectors(t) {
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatal(err)
		}
		seeds["golden-"+v.Name] = b
	}
	r := sampleReading()
	r.EventTime, r.Source = time.Date(2023, 12, 30, 3, 0, 0, 0, time.UTC), "synthetic"
	good, err := c.Encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	seeds["v2-full"] = good
	v3, err := goavro.NewCodec(fuzzV3)
	if err != nil {
		t.Fatal(err)
	}
	n := ReadingNative(&r)
	n["UNIT"] = []byte("R051")
	n["STATION"] = goavro.Union("string", r.Station)
	n["ENTRIES"] = int32(5)
	n["EXITS"] = goavro.Union("long", int64(7))
	n["EVENT_TIME"] = goavro.Union("long.timestamp-micros", r.EventTime)
	n["TAGS"] = []any{"a", "b"}
	n["ATTRS"] = map[string]any{"x": goavro.Union("double", 1.5), "y": nil, "z": goavro.Union("boolean", true)}
	n["MAC"] = []byte{1, 2, 3, 4, 5, 6}
	n["KIND"] = "B"
	n["GEO"] = goavro.Union("nyc.mta.turnstile.Geo", map[string]any{"lat": 40.7, "day": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)})
	body, err := v3.BinaryFromNative(nil, n)
	if err != nil {
		t.Fatal(err)
	}
	seeds["v3-all-types"] = append(AppendHeader(nil, 3), body...)
	bad := func(mut func(*schemas.Reading)) []byte {
		r := sampleReading()
		mut(&r)
		b, err := c.Encode(&r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	seeds["reject-empty"] = []byte{}
	seeds["reject-magic"] = append([]byte{1}, good[1:]...)
	seeds["reject-short-header"] = good[:3]
	seeds["reject-truncated"] = good[:len(good)/2]
	seeds["reject-trailing"] = append(append([]byte{}, good...), 0, 0)
	seeds["reject-negative-counter"] = bad(func(r *schemas.Reading) { r.Entries = -3 })
	seeds["reject-bad-date"] = bad(func(r *schemas.Reading) { r.Date = "2023-12-30" })
	seeds["reject-future"] = bad(func(r *schemas.Reading) { r.Timestamp = "2099-01-01 00:00:00" })
	seeds["reject-empty-device"] = bad(func(r *schemas.Reading) { r.CA = "" })
	seeds["reject-long-field"] = bad(func(r *schemas.Reading) { r.Desc = strings.Repeat("D", DefaultMaxFieldBytes+1) })
	seeds["reject-before-1970"] = bad(func(r *schemas.Reading) { r.EventTime = time.UnixMilli(-1) })
	seeds["reject-max-event-time"] = bad(func(r *schemas.Reading) { r.EventTime = time.UnixMilli(math.MaxInt64) })
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
