package codecs

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// flatV3 is a later flat writer version: fields the reader lacks, of every
// flat kind (skipped), and no SOURCE (the reader's default); the rest as v2.
const flatV3 = `{"type":"record","name":"TurnstileReading","namespace":"nyc.mta.turnstile","fields":[
	{"name":"CA","type":"string"},{"name":"UNIT","type":"string"},{"name":"SCP","type":"string"},
	{"name":"STATION","type":"string"},{"name":"LINENAME","type":"string"},{"name":"DIVISION","type":"string"},
	{"name":"DATE","type":"string"},{"name":"TIME","type":"string"},{"name":"DESC","type":"string"},
	{"name":"ENTRIES","type":"long"},{"name":"EXITS","type":"long"},
	{"name":"X_BOOL","type":"boolean"},{"name":"X_INT","type":["null","int"]},{"name":"X_FLOAT","type":"float"},
	{"name":"X_DOUBLE","type":["double","null"]},{"name":"X_BYTES","type":"bytes"},{"name":"X_NULL","type":"null"},
	{"name":"ID","type":"string"},{"name":"TIMESTAMP","type":"string"},
	{"name":"EVENT_TIME","type":["null",{"type":"long","logicalType":"timestamp-millis"}],"default":null}
]}`

// flatV3Reversed is flatV3 with SOURCE written as ["string","null"].
const flatV3Reversed = `{"type":"record","name":"TurnstileReading","namespace":"nyc.mta.turnstile","fields":[
	{"name":"CA","type":"string"},{"name":"UNIT","type":"string"},{"name":"SCP","type":"string"},
	{"name":"STATION","type":"string"},{"name":"LINENAME","type":"string"},{"name":"DIVISION","type":"string"},
	{"name":"DATE","type":"string"},{"name":"TIME","type":"string"},{"name":"DESC","type":"string"},
	{"name":"ENTRIES","type":"long"},{"name":"EXITS","type":"long"},
	{"name":"ID","type":"string"},{"name":"TIMESTAMP","type":"string"},
	{"name":"SOURCE","type":["string","null"],"default":"x"}
]}`

// intEntries writes ENTRIES as an int: the reader promotes it (goavro's path).
const intEntries = `{"type":"record","name":"TurnstileReading","namespace":"nyc.mta.turnstile","fields":[
	{"name":"CA","type":"string"},{"name":"UNIT","type":"string"},{"name":"SCP","type":"string"},
	{"name":"STATION","type":"string"},{"name":"LINENAME","type":"string"},{"name":"DIVISION","type":"string"},
	{"name":"DATE","type":"string"},{"name":"TIME","type":"string"},{"name":"DESC","type":"string"},
	{"name":"ENTRIES","type":"int"},{"name":"EXITS","type":"long"},
	{"name":"ID","type":"string"},{"name":"TIMESTAMP","type":"string"}
]}`

// TestDirectPlanLeavesReadFloatsToGoavro: the direct decoder skips floats
// and doubles but does not read them, so a reader that takes one decodes
// through goavro.
func TestDirectPlanLeavesReadFloatsToGoavro(t *testing.T) {
	const text = `{"type":"record","name":"R","fields":[{"name":"A","type":"string"},{"name":"X","type":["null","double"]}]}`
	schema, err := parseSchema(text)
	if err != nil {
		t.Fatal(err)
	}
	if w := compile(text, schema); w.planErr != nil || w.direct != nil {
		t.Fatalf("plan error %v, direct plan %v: want goavro's path", w.planErr, w.direct)
	}
}

func TestDirectPlanWhichWriters(t *testing.T) {
	reader, err := parseSchema(schemas.LatestReadingSchema().Text)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		writer string
		direct bool
	}{
		{"v1", readingSchema(t, 1), true},
		{"v2", readingSchema(t, 2), true},
		{"a later flat version with fields the reader lacks", flatV3, true},
		{"a union in the other order", flatV3Reversed, false},
		{"an int the reader promotes to long", intEntries, false},
		{"arrays, maps, records, enums and fixed", fuzzV3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := compile(tc.writer, reader)
			if w.planErr != nil {
				t.Fatal(w.planErr)
			}
			if got := w.direct != nil; got != tc.direct {
				t.Fatalf("direct plan: %v, want %v", got, tc.direct)
			}
		})
	}
}

// twinCodecs returns two reading codecs with the same cached writer ids
// (1: v1, 2: v2, 3: flatV3, 4: flatV3Reversed, 5: intEntries): the first
// decodes flat writers directly, the second always with goavro.
func twinCodecs(t testing.TB) (direct, viaGoavro *ReadingCodec) {
	texts := []string{readingSchema(t, 1), readingSchema(t, 2), flatV3, flatV3Reversed, intEntries}
	mk := func(keepDirect bool) *ReadingCodec {
		c := newReadingCodec(t, ReadingConfig{Config: offline(), Now: func() time.Time { return fixedNow }})
		for i, text := range texts {
			w := compile(text, c.e.reader)
			if !keepDirect {
				w.direct = nil
			}
			c.e.store(i+1, w)
		}
		return c
	}
	return mk(true), mk(false)
}

// encodeAs encodes native with the writer schema text under id.
func encodeAs(t testing.TB, text string, id int, native map[string]any) []byte {
	t.Helper()
	codec, err := newGoavroCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := codec.BinaryFromNative(AppendHeader(nil, id), native)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// directSeeds are well-formed payloads of every cached writer id.
func directSeeds(t testing.TB) [][]byte {
	r := sampleReading()
	r.EventTime, r.Source = fixedNow, "csv:240106.csv.gz"
	n := ReadingNative(&r)
	v3 := map[string]any{"X_BOOL": true, "X_INT": map[string]any{"int": int32(-7)}, "X_FLOAT": float32(1.5),
		"X_DOUBLE": nil, "X_BYTES": []byte{0, 1, 255}, "X_NULL": nil}
	for k, v := range n {
		v3[k] = v
	}
	rev := map[string]any{}
	for k, v := range n {
		rev[k] = v
	}
	rev["SOURCE"] = map[string]any{"string": "synthetic"}
	ints := map[string]any{}
	for k, v := range n {
		ints[k] = v
	}
	ints["ENTRIES"] = int32(12345)
	nulls := sampleReading() // no EVENT_TIME, no SOURCE
	return [][]byte{
		encodeAs(t, readingSchema(t, 1), 1, n),
		encodeAs(t, readingSchema(t, 2), 2, n),
		encodeAs(t, readingSchema(t, 2), 2, ReadingNative(&nulls)),
		encodeAs(t, flatV3, 3, v3),
		encodeAs(t, flatV3Reversed, 4, rev),
		encodeAs(t, intEntries, 5, ints),
	}
}

// sameDecode decodes data with both codecs and fails unless they agree:
// the same reading, or rejections with the same reason.
func sameDecode(t testing.TB, direct, viaGoavro *ReadingCodec, data []byte) {
	t.Helper()
	r1, et1, err1 := direct.DecodeReadingTime(data)
	r2, et2, err2 := viaGoavro.DecodeReadingTime(data)
	if (err1 == nil) != (err2 == nil) {
		t.Fatalf("payload %x: direct: %v; goavro: %v", data, err1, err2)
	}
	if err1 != nil {
		var re1, re2 *RejectError
		if !errors.As(err1, &re1) || !errors.As(err2, &re2) {
			t.Fatalf("payload %x: not rejections: %v; %v", data, err1, err2)
		}
		if re1.Reason != re2.Reason || re1.Field != re2.Field {
			t.Fatalf("payload %x: direct: %v; goavro: %v", data, err1, err2)
		}
		return
	}
	if !reflect.DeepEqual(r1, r2) || !et1.Equal(et2) {
		t.Fatalf("payload %x:\ndirect %+v\ngoavro %+v", data, r1, r2)
	}
}

func TestDirectAgreesWithGoavro(t *testing.T) {
	direct, viaGoavro := twinCodecs(t)
	seeds := directSeeds(t)
	for _, s := range seeds {
		if _, err := direct.DecodeReading(s); err != nil {
			t.Fatalf("seed %x: %v", s, err)
		}
		sameDecode(t, direct, viaGoavro, s)
	}
	// Every byte of every seed set to values that probe the encoding's
	// edges (booleans, union indexes, varint sign and continuation bits),
	// every truncation, and a varint stretched at every position.
	probes := []byte{0, 1, 2, 3, 4, 0x3f, 0x7f, 0x80, 0x81, 0xfe, 0xff}
	for _, s := range seeds {
		for at := HeaderSize; at < len(s); at++ {
			for _, p := range probes {
				b := append([]byte(nil), s...)
				b[at] = p
				sameDecode(t, direct, viaGoavro, b)
			}
			sameDecode(t, direct, viaGoavro, s[:at])
			stretched := append(append(append([]byte(nil), s[:at]...), 0x80|s[at], 0x80), s[at:]...)
			sameDecode(t, direct, viaGoavro, stretched)
		}
	}
	// Random bytes inserted, deterministic so a failure reproduces.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		s := seeds[rng.IntN(len(seeds))]
		at := HeaderSize + rng.IntN(len(s)-HeaderSize)
		b := append(append(append([]byte(nil), s[:at]...), byte(rng.IntN(256))), s[at:]...)
		sameDecode(t, direct, viaGoavro, b)
	}
}

// FuzzDirect checks the direct decoder against goavro's path on any
// payload of a cached flat writer id.
func FuzzDirect(f *testing.F) {
	direct, viaGoavro := twinCodecs(f)
	for _, s := range directSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if id, ok := SchemaID(data); ok && (id < 1 || id > 5) {
			data = append(AppendHeader(nil, 1+int(uint32(id)%5)), data[HeaderSize:]...)
		}
		sameDecode(t, direct, viaGoavro, data)
	})
}

func BenchmarkDecodeDirectOrGoavro(b *testing.B) {
	direct, viaGoavro := twinCodecs(b)
	data := directSeeds(b)[1]
	for _, c := range []struct {
		name  string
		codec *ReadingCodec
	}{{"direct", direct}, {"goavro", viaGoavro}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.codec.DecodeReading(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
