package codecs

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// fuzzV3 is a writer schema with every kind of Avro type, so that the fuzzer
// drives goavro through records, enums, arrays, maps, fixed, bytes, floats
// and nested unions before resolution onto the reader.
const fuzzV3 = `{"type":"record","name":"TurnstileReading","namespace":"nyc.mta.turnstile","fields":[
	{"name":"CA","type":"string"},{"name":"UNIT","type":"bytes"},{"name":"SCP","type":"string"},
	{"name":"STATION","type":["string","null"]},{"name":"LINENAME","type":"string"},{"name":"DIVISION","type":"string"},
	{"name":"DATE","type":"string"},{"name":"TIME","type":"string"},{"name":"DESC","type":"string"},
	{"name":"ENTRIES","type":"int"},{"name":"EXITS","type":["null","int","long"]},
	{"name":"ID","type":"string"},{"name":"TIMESTAMP","type":"string"},
	{"name":"EVENT_TIME","type":["null",{"type":"long","logicalType":"timestamp-micros"},"string"],"default":null},
	{"name":"TAGS","type":{"type":"array","items":"string"}},
	{"name":"ATTRS","type":{"type":"map","values":["null","double","float","boolean"]}},
	{"name":"MAC","type":{"type":"fixed","name":"Mac","size":6}},
	{"name":"KIND","type":{"type":"enum","name":"Kind","symbols":["A","B"]}},
	{"name":"GEO","type":["null",{"type":"record","name":"Geo","fields":[{"name":"lat","type":"double"},{"name":"day","type":{"type":"int","logicalType":"date"}}]}]}
]}`

func fuzzCodec(t testing.TB) *ReadingCodec {
	c := newReadingCodec(t, ReadingConfig{Config: offline(), Now: func() time.Time { return fixedNow }})
	seed(t, c.e, 1, readingSchema(t, 1))
	seed(t, c.e, 2, readingSchema(t, 2))
	seed(t, c.e, 3, fuzzV3)
	seedWriter(t, c.e, 2)
	return c
}

// FuzzDecode feeds arbitrary payloads to the reading decoder. It must never
// panic; every failure must be a *RejectError with a known reason (all ids
// the fuzzer can produce are cached, so nothing is retryable); every success
// must survive a re-encode and decode unchanged.
func FuzzDecode(f *testing.F) {
	c := fuzzCodec(f)
	r := sampleReading()
	if b, err := c.Encode(&r); err == nil {
		f.Add(b)
	}
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Point well-framed payloads at a cached id so the fuzzer explores
		// the decoder, not the network.
		if id, ok := SchemaID(data); ok && (id < 1 || id > 3) {
			data = append(AppendHeader(nil, 1+int(uint32(id)%3)), data[HeaderSize:]...)
		}
		v, err := c.Decode(data)
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) || !known[re.Reason] {
				t.Fatalf("error %v (%T) is not a known rejection", err, err)
			}
			if v != nil {
				t.Fatalf("value %v with error", v)
			}
			return
		}
		got := v.(*schemas.Reading)
		again, err := c.Encode(got)
		if err != nil {
			t.Fatalf("re-encode %+v: %v", got, err)
		}
		back, err := c.Decode(again)
		if err != nil {
			t.Fatalf("decode of re-encoded %+v: %v", got, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("round trip changed the reading:\n%+v\n%+v", back, v)
		}
	})
}
