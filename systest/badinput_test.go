package systest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/reference"
)

// badRecord is one hostile input record and the dead-letter reason it must
// get.
type badRecord struct {
	name   string
	key    []byte
	value  []byte
	reason codecs.Reason
}

// TestBadInputCampaign mixes every kind of hostile input (bad framing, unknown
// or foreign schema ids, undecodable, oversized or invalid readings:
// badRecords) among valid readings (some of them with garbage keys or huge
// counters): the processor must never stop (no stage restart), every bad
// record must land on the dead-letter topic exactly once with its reason, and
// every valid reading must be counted: the windows equal the reference
// computed over the valid readings alone.
func TestBadInputCampaign(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	topics := processors.DefaultTopics()
	log, logs := newLogCapture(t)
	m, err := processors.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.config(t)
	cfg.MaxFuture = 0 // the production default: 24h ahead of the wall clock
	cfg.Logger = log
	runMember(t, ctx, cancel, cfg, m)

	v1 := readingCodec(t, s, topics.Input, 1)
	v2 := readingCodec(t, s, topics.Input, 2)
	valid := synthetic(3, 9, 25)
	// Huge counters are valid readings whose differences are dropped as
	// glitches: the reference must agree.
	for i := range valid {
		if i%37 == 5 {
			valid[i].Entries = math.MaxInt64
		}
		if i%53 == 7 {
			valid[i].Exits = math.MaxInt64 - 1
		}
	}
	bad := badRecords(t, s, v1, v2)

	// Interleave: bad records at random positions among the valid ones;
	// valid readings get garbage keys now and then (keys carry no meaning
	// on the input topic).
	rng := rand.New(rand.NewPCG(4, 2))
	type rec struct {
		key, value []byte
		bad        int // index into bad, or -1
	}
	var recs []rec
	for i, r := range valid {
		enc := v1
		if i%2 == 1 {
			enc = v2
		}
		b, err := enc.EncodeReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		key := []byte(r.ID)
		switch i % 11 {
		case 1:
			key = nil
		case 2:
			key = []byte{0xff, 0xfe, 0, 0x80, '|', '|'}
		case 3:
			key = bytes.Repeat([]byte{0xc3}, 32<<10)
		}
		recs = append(recs, rec{key, b, -1})
	}
	for i, b := range bad {
		j := rng.IntN(len(recs) + 1)
		recs = append(recs[:j], append([]rec{{b.key, b.value, i}}, recs[j:]...)...)
	}

	// Produce in that order, remembering where each bad record landed.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.brokers...), kgo.ProducerBatchMaxBytes(4<<20), kgo.MaxBufferedRecords(100))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var mu sync.Mutex
	at := map[string]int{} // partition/offset -> index into bad
	for _, r := range recs {
		if len(r.key)+len(r.value) > 1<<19 {
			// Alone in its batch, or the broker refuses the batch.
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		cl.Produce(ctx, &kgo.Record{Topic: topics.Input, Key: r.key, Value: r.value}, func(kr *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			if r.bad >= 0 {
				mu.Lock()
				at[fmt.Sprintf("%d/%d", kr.Partition, kr.Offset)] = r.bad
				mu.Unlock()
			}
		})
		if len(r.key)+len(r.value) > 1<<19 {
			if err := cl.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	want := reference.Devices(refParams, reference.FromSchemas(valid))
	waitDevices(t, ctx, s, func(m map[string]schemas.DeviceWindow) string {
		return reference.DiffDevices(m, want) + extraDevices(m, want)
	})
	wantSt := reference.StationsOf(want, reference.FromSchemas(valid))
	waitStations(t, ctx, s, func(m map[string]schemas.StationWindow) string { return reference.DiffStations(m, wantSt) })

	// Every bad record is dead-lettered once, with its reason, source and
	// original bytes; nothing else is.
	dead := readAll(t, ctx, s, topics.DeadLetters, len(bad))
	extra := readFor(t, s, topics.DeadLetters, 2*time.Second)
	if len(extra) != len(dead) {
		t.Errorf("dead-letter topic holds %d records, want %d", len(extra), len(bad))
	}
	got := map[int]bool{}
	truncated := 0
	for _, r := range dead {
		h := headers(r)
		src := deadLetterSource(h)
		i, ok := at[src]
		if !ok {
			t.Errorf("dead letter from %s, which is not a bad record (reason %s: %s)", src, h[processors.HeaderReason], h[processors.HeaderDetail])
			continue
		}
		b := bad[i]
		if got[i] {
			t.Errorf("%s dead-lettered twice", b.name)
		}
		got[i] = true
		if h[processors.HeaderReason] != string(b.reason) {
			t.Errorf("%s: reason %q (%s), want %q", b.name, h[processors.HeaderReason], h[processors.HeaderDetail], b.reason)
		}
		if h[processors.HeaderSourceTopic] != topics.Input || h[processors.HeaderDetail] == "" {
			t.Errorf("%s: headers %v", b.name, h)
		}
		// The original bytes, or their start with the original size when
		// the record is too large to dead-letter whole.
		for _, c := range []struct {
			what      string
			got, want []byte
			header    string
		}{{"value", r.Value, b.value, processors.HeaderOriginalSize}, {"key", r.Key, b.key, processors.HeaderOriginalKeySize}} {
			size, cut := h[c.header]
			switch {
			case !cut && !bytes.Equal(c.got, c.want):
				t.Errorf("%s: dead letter %s has %d bytes, not the original %d", b.name, c.what, len(c.got), len(c.want))
			case cut && (size != strconv.Itoa(len(c.want)) || !bytes.HasPrefix(c.want, c.got) || len(c.got) == 0):
				t.Errorf("%s: dead letter %s cut to %d bytes, header %s=%s, original %d", b.name, c.what, len(c.got), c.header, size, len(c.want))
			case cut:
				truncated++
			}
		}
	}
	if truncated != 2 {
		t.Errorf("%d dead letters cut to size, want 2 (the oversized record and the huge key)", truncated)
	}
	if restarts := logs.matching("restarting"); len(restarts) > 0 {
		t.Errorf("a stage stopped on bad input:\n%s", strings.Join(restarts, "\n"))
	}
	t.Logf("%d valid readings, %d bad records dead-lettered, %d device windows, %d station windows",
		len(valid), len(bad), len(want), len(wantSt))
}

// badRecords builds one record per kind of bad input.
func badRecords(t *testing.T, s *stack, v1, v2 *codecs.ReadingCodec) []badRecord {
	t.Helper()
	base := time.Date(2024, 1, 6, 0, 30, 0, 0, time.UTC)
	n := 0
	reading := func(mut func(*schemas.Reading)) schemas.Reading {
		n++
		r := schemas.Reading{CA: "B001", Unit: "R900", SCP: "00-00-01", Station: "BAD ST", LineName: "X", Division: "IND",
			Desc: "REGULAR", Entries: 10, Exits: 20, ID: "bad-" + strconv.Itoa(n)}
		r.SetTimes(base)
		mut(&r)
		return r
	}
	enc := func(c *codecs.ReadingCodec, mut func(*schemas.Reading)) []byte {
		r := reading(mut)
		b, err := c.EncodeReading(&r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := enc(v2, func(*schemas.Reading) {})
	withID := func(id int32, body []byte) []byte { return append(codecs.AppendHeader(nil, int(id)), body...) }
	goodID, _ := codecs.SchemaID(good)

	// An id registered under another subject: a device window's.
	dw, err := codecs.NewDeviceWindowCodec(codecs.Config{Client: s.registry, Subject: schemas.Subject("some-other-topic")})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := dw.Marshal(&schemas.DeviceWindow{CA: "A", Unit: "R", SCP: "S", Station: "X", Start: base, End: base.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("S", 10<<10)
	future := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 7))
	garbage := make([]byte, 1000)
	garbage[0] = 1 // a string of length -1, then noise
	for i := 1; i < len(garbage); i++ {
		garbage[i] = byte(rng.UintN(256))
	}
	big := make([]byte, 1_048_400) // just under the broker's limit (1 MiB and 12 bytes per batch)
	copy(big, good)
	for i := len(good); i < len(big); i++ {
		big[i] = byte(rng.UintN(256))
	}

	return []badRecord{
		// Framing.
		{"tombstone", []byte("k"), nil, codecs.ReasonEmpty},
		{"empty value", nil, []byte{}, codecs.ReasonEmpty},
		{"wrong magic byte", nil, append([]byte{1}, good[1:]...), codecs.ReasonMagicByte},
		{"json", nil, []byte(`{"CA":"A002"}`), codecs.ReasonMagicByte},
		{"short header", nil, good[:3], codecs.ReasonTruncated},
		{"truncated body", nil, good[:len(good)-7], codecs.ReasonTruncated},
		{"trailing bytes", nil, append(append([]byte{}, good...), 1, 2, 3), codecs.ReasonTrailingBytes},
		{"garbage body", nil, withID(int32(goodID), garbage), codecs.ReasonMalformed},
		{"oversized record", []byte("big"), big, codecs.ReasonOversized},
		{"oversized reading", nil, enc(v1, func(r *schemas.Reading) { r.Station = strings.Repeat("S", 200<<10) }), codecs.ReasonOversized},
		// Schema ids.
		{"unknown schema id", nil, withID(99999, good[5:]), codecs.ReasonUnknownSchemaID},
		{"schema id 0", nil, withID(0, good[5:]), codecs.ReasonUnknownSchemaID},
		{"negative schema id", nil, withID(-5, good[5:]), codecs.ReasonUnknownSchemaID},
		{"id of another subject", nil, foreign, codecs.ReasonWrongSubject},
		// Garbage keys on bad values.
		{"garbage key", bytes.Repeat([]byte{0xff, 0}, 40<<10), []byte("x"), codecs.ReasonMagicByte},
		{"huge garbage key", bytes.Repeat([]byte{0x80}, 1_000_000), append(codecs.AppendHeader(nil, goodID), 0), codecs.ReasonTruncated},
		// Timestamps.
		{"timestamp year 9999", nil, enc(v1, func(r *schemas.Reading) { r.Timestamp = "9999-12-31 23:59:59" }), codecs.ReasonFutureEventTime},
		{"event time year 9999", nil, enc(v2, func(r *schemas.Reading) { r.EventTime = future }), codecs.ReasonFutureEventTime},
		{"event time max int64 ms", nil, enc(v2, func(r *schemas.Reading) { r.EventTime = time.UnixMilli(math.MaxInt64) }), codecs.ReasonFutureEventTime},
		{"event time min int64 ms", nil, enc(v2, func(r *schemas.Reading) { r.EventTime = time.UnixMilli(math.MinInt64) }), codecs.ReasonInvalidField},
		{"timestamp year 1", nil, enc(v1, func(r *schemas.Reading) { r.Timestamp = "0001-01-01 00:00:00" }), codecs.ReasonInvalidField},
		{"event time before 1970", nil, enc(v2, func(r *schemas.Reading) { r.EventTime = time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC) }), codecs.ReasonInvalidField},
		{"timestamp malformed", nil, enc(v1, func(r *schemas.Reading) { r.Timestamp = "2024-02-30 25:61:00" }), codecs.ReasonInvalidField},
		{"timestamp words", nil, enc(v1, func(r *schemas.Reading) { r.Timestamp = "yesterday" }), codecs.ReasonInvalidField},
		{"timestamp empty", nil, enc(v1, func(r *schemas.Reading) { r.Timestamp = "" }), codecs.ReasonInvalidField},
		{"date malformed", nil, enc(v1, func(r *schemas.Reading) { r.Date = "2024-01-06" }), codecs.ReasonInvalidField},
		{"time malformed", nil, enc(v1, func(r *schemas.Reading) { r.Time = "24:00:00" }), codecs.ReasonInvalidField},
		// Counters.
		{"negative entries", nil, enc(v1, func(r *schemas.Reading) { r.Entries = -1 }), codecs.ReasonInvalidField},
		{"negative exits", nil, enc(v2, func(r *schemas.Reading) { r.Exits = math.MinInt64 }), codecs.ReasonInvalidField},
		// Strings.
		{"very long station", nil, enc(v1, func(r *schemas.Reading) { r.Station = huge }), codecs.ReasonInvalidField},
		{"very long id", nil, enc(v2, func(r *schemas.Reading) { r.ID = huge }), codecs.ReasonInvalidField},
		{"very long desc", nil, enc(v2, func(r *schemas.Reading) { r.Desc = huge }), codecs.ReasonInvalidField},
		{"invalid utf-8", nil, enc(v1, func(r *schemas.Reading) { r.LineName = "\xff\xfe" }), codecs.ReasonInvalidField},
		{"key separator in device", nil, enc(v1, func(r *schemas.Reading) { r.SCP = "00|01" }), codecs.ReasonInvalidField},
		{"empty device", nil, enc(v2, func(r *schemas.Reading) { r.CA = " " }), codecs.ReasonInvalidField},
	}
}
