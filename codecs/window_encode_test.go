package codecs

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
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

// nativeByTags is w in goavro's native form, made from its avro tags
// rather than by the generator that writes the encoder: every field as it
// is (goavro writes a timestamp-millis from a time.Time).
func nativeByTags(w any) map[string]any {
	v := reflect.ValueOf(w).Elem()
	m := map[string]any{}
	for i := range v.NumField() {
		m[v.Type().Field(i).Tag.Get("avro")] = v.Field(i).Interface()
	}
	return m
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
	want, err := c.e.encode(nativeByTags(w))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v:\ngenerated %x\ngoavro    %x", *w, got, want)
	}
	// AppendMarshal after other bytes: those, then Marshal's.
	prefix := []byte("earlier row")
	appended, err := c.AppendMarshal(append([]byte(nil), prefix...), w)
	if err != nil || !bytes.Equal(appended, append(prefix, want...)) {
		t.Fatalf("%+v: AppendMarshal %x, %v; want %x after %q", *w, appended, err, want, prefix)
	}
}

// TestWindowDecodingAgreesWithGoavro: the window codecs decode their flat
// records directly; with the direct plan removed they decode through
// goavro. Both must give the same window or the same rejection, for random
// windows and for every single-byte change of some of them.
func TestWindowDecodingAgreesWithGoavro(t *testing.T) {
	mk := func(direct bool) *DeviceWindowCodec {
		c, err := NewDeviceWindowCodec(offline())
		if err != nil {
			t.Fatal(err)
		}
		w := compile(c.e.writerText, c.e.reader)
		if w.direct == nil {
			t.Fatal("the device window schema has no direct plan")
		}
		if !direct {
			w.direct = nil
		}
		c.e.store(7, w)
		c.e.writerID.Store(7)
		return c
	}
	direct, viaGoavro := mk(true), mk(false)
	decoded := 0 // payloads both paths decoded, so their values were compared
	same := func(b []byte) {
		t.Helper()
		w1, err1 := direct.Unmarshal(b)
		w2, err2 := viaGoavro.Unmarshal(b)
		var re1, re2 *RejectError
		switch {
		case (err1 == nil) != (err2 == nil):
			t.Fatalf("payload %x: direct: %v; goavro: %v", b, err1, err2)
		case err1 != nil && (!errors.As(err1, &re1) || !errors.As(err2, &re2) || re1.Reason != re2.Reason || re1.Field != re2.Field):
			t.Fatalf("payload %x: direct: %v; goavro: %v", b, err1, err2)
		case err1 == nil && !reflect.DeepEqual(w1, w2):
			t.Fatalf("payload %x:\ndirect %+v\ngoavro %+v", b, w1, w2)
		case err1 == nil:
			decoded++
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 2000; i++ {
		d := schemas.DeviceWindow{CA: randomString(rng), Unit: randomString(rng), SCP: randomString(rng),
			Station: randomString(rng), LineName: randomString(rng), Division: randomString(rng),
			Desc: randomString(rng), Entries: randomLong(rng), Exits: randomLong(rng),
			Revision: randomInt(rng), Generation: randomInt(rng), EmittedAt: randomTime(rng)}
		d.SetWindow(randomTime(rng), randomTime(rng), nil)
		b, err := direct.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		same(b)
		if i%200 != 0 {
			continue
		}
		for at := HeaderSize; at < len(b); at++ {
			for _, p := range []byte{0, 1, 2, 0x7f, 0x80, 0xff} {
				m := append([]byte(nil), b...)
				m[at] = p
				same(m)
			}
			same(b[:at])
		}
	}
	// Most random windows break a validation rule; enough must not.
	if decoded < 200 {
		t.Fatalf("only %d payloads decoded: the values were hardly compared", decoded)
	}
	t.Logf("%d payloads decoded by both paths", decoded)
}
