package codecs

import (
	"testing"
	"time"
)

// TestGuardHugeBlockCount: without the guard, goavro would allocate a slice
// of 2^31-1 interfaces for a 10-byte payload.
func TestGuardHugeBlockCount(t *testing.T) {
	c := fuzzCodec(t)
	tests := []struct {
		name   string
		body   []byte
		reason Reason
	}{
		{"array count MaxInt32", arrayPrefix(0xfe, 0xff, 0xff, 0xff, 0x0f), ReasonTruncated},
		{"negative count, huge", arrayPrefix(0xfd, 0xff, 0xff, 0xff, 0x0f, 0x02), ReasonTruncated},
		{"count MinInt64", arrayPrefix(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), ReasonMalformed},
		{"overlong varint", arrayPrefix(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := c.Decode(append(AppendHeader(nil, 3), tt.body...))
			if !isReason(err, tt.reason) {
				t.Fatalf("got %v, want %s", err, tt.reason)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// arrayPrefix is a fuzzV3 body whose fields before TAGS are valid, followed
// by the given bytes in TAGS's place.
func arrayPrefix(tail ...byte) []byte {
	var b []byte
	str := func(s string) { b = append(b, byte(2*len(s))); b = append(b, s...) }
	str("A002")         // CA
	str("R051")         // UNIT (bytes)
	str("02-00-00")     // SCP
	b = append(b, 0)    // STATION union: string
	str("59 ST")        //
	str("NQR456W")      // LINENAME
	str("BMT")          // DIVISION
	str("12-30-23")     // DATE
	str("03:00:00")     // TIME
	str("REGULAR")      // DESC
	b = append(b, 2)    // ENTRIES int 1
	b = append(b, 2, 2) // EXITS union: int 1
	str("x")            // ID
	str("2023-12-30 03:00:00")
	b = append(b, 0) // EVENT_TIME: null
	return append(b, tail...)
}

func TestGuardAgreesWithGoavro(t *testing.T) {
	wt, err := parseSchema(fuzzV3)
	if err != nil {
		t.Fatal(err)
	}
	if !hasCollections(wt) {
		t.Fatal("fuzzV3 has arrays and maps")
	}
	body := arrayPrefix(4, 2, 'a', 2, 'b', 0, // TAGS ["a","b"]
		2, 2, 'x', 0, 0, // ATTRS {"x": null}
		1, 2, 3, 4, 5, 6, // MAC
		2, // KIND B
		0) // GEO null
	rest, err := guard(wt, body, 0)
	if err != nil || len(rest) != 0 {
		t.Fatalf("guard: %v, %d left", err, len(rest))
	}
	c := fuzzCodec(t)
	if _, err := c.Decode(append(AppendHeader(nil, 3), body...)); err != nil {
		t.Fatal(err)
	}
}
