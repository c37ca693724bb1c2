package codecs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// The window codecs decode what the relays publish; the lake-writer and
// outside consumers read them from topics anyone can write to, so they get
// the same fuzzing as the reading codec. Their writer schema is cached
// under id 1 (nothing the fuzzer produces needs the registry).

func sampleDeviceWindow() schemas.DeviceWindow {
	start := time.Date(2023, 12, 30, 0, 0, 0, 0, time.UTC)
	w := schemas.DeviceWindow{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W",
		Division: "BMT", Desc: "REGULAR", Entries: 5, Exits: 14, Revision: 2, Generation: 1, EmittedAt: fixedNow}
	w.SetWindow(start, start.Add(5*time.Minute), nil)
	return w
}

func sampleStationWindow() schemas.StationWindow {
	start := time.Date(2023, 12, 30, 0, 0, 0, 0, time.UTC)
	return schemas.StationWindow{Station: "59 ST", LineName: "NQR456W", Division: "BMT", Start: start, End: start.Add(5 * time.Minute),
		Entries: 1 << 40, Exits: 3, Devices: 7, Revision: 1, EmittedAt: fixedNow}
}

func fuzzDeviceCodec(t testing.TB) *DeviceWindowCodec {
	c, err := NewDeviceWindowCodec(Config{RegistryURL: "http://127.0.0.1:1", Subject: "mta-turnstile-windows-value"})
	if err != nil {
		t.Fatal(err)
	}
	seedWriter(t, c.e, 1)
	return c
}

func fuzzStationCodec(t testing.TB) *StationWindowCodec {
	c, err := NewStationWindowCodec(Config{RegistryURL: "http://127.0.0.1:1", Subject: "mta-station-windows-value"})
	if err != nil {
		t.Fatal(err)
	}
	seedWriter(t, c.e, 1)
	return c
}

// windowSeeds are a valid window and its usual corruptions.
func windowSeeds(good []byte) map[string][]byte {
	flipped := append([]byte{}, good...)
	flipped[len(flipped)/2] ^= 0xff
	return map[string][]byte{
		"valid":         good,
		"empty":         {},
		"magic":         append([]byte{1}, good[1:]...),
		"short-header":  good[:3],
		"truncated":     good[:len(good)-4],
		"trailing":      append(append([]byte{}, good...), 0),
		"flipped":       flipped,
		"other-id":      append(AppendHeader(nil, 2), good[HeaderSize:]...),
		"header-only":   good[:HeaderSize],
		"negative-len":  append(AppendHeader(nil, 1), 1),
		"huge-len":      append(AppendHeader(nil, 1), 0xfe, 0xff, 0xff, 0xff, 0x0f),
		"one-zero-byte": append(AppendHeader(nil, 1), 0),
	}
}

// fuzzWindow is the property both window fuzzers check: no panic; every
// failure is a *RejectError with a known reason and no value; every
// success is a valid window that re-encodes to bytes decoding to the same
// window.
func fuzzWindow[W any, P interface {
	*W
	Validate() error
}](t *testing.T, c *WindowCodec[W, P], data []byte) {
	// Point well-framed payloads at the cached id so the fuzzer explores
	// the decoder, not the network.
	if id, ok := SchemaID(data); ok && id != 1 {
		data = append(AppendHeader(nil, 1), data[HeaderSize:]...)
	}
	known := map[Reason]bool{}
	for _, r := range Reasons() {
		known[r] = true
	}
	w, err := c.Unmarshal(data)
	if err != nil {
		var re *RejectError
		if !errors.As(err, &re) || !known[re.Reason] {
			t.Fatalf("error %v (%T) is not a known rejection", err, err)
		}
		if v, derr := c.Decode(data); v != nil || derr == nil {
			t.Fatalf("Decode returned %v, %v after Unmarshal failed", v, derr)
		}
		return
	}
	if err := P(&w).Validate(); err != nil {
		t.Fatalf("decoded an invalid window %+v: %v", w, err)
	}
	again, err := c.Marshal(&w)
	if err != nil {
		t.Fatalf("re-encode %+v: %v", w, err)
	}
	back, err := c.Unmarshal(again)
	if err != nil {
		t.Fatalf("decode of re-encoded %+v: %v", w, err)
	}
	if !reflect.DeepEqual(back, w) {
		t.Fatalf("round trip changed the window:\n%+v\n%+v", back, w)
	}
}

func FuzzDeviceWindowDecode(f *testing.F) {
	c := fuzzDeviceCodec(f)
	w := sampleDeviceWindow()
	if b, err := c.Marshal(&w); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWindow(t, c, data) })
}

func FuzzStationWindowDecode(f *testing.F) {
	c := fuzzStationCodec(f)
	w := sampleStationWindow()
	if b, err := c.Marshal(&w); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWindow(t, c, data) })
}

// TestWriteWindowFuzzCorpus regenerates testdata/fuzz/Fuzz*WindowDecode,
// the committed seed corpora. Run it with
//
//	TURNSTILE_WRITE_CORPUS=1 go test -run TestWriteWindowFuzzCorpus ./codecs
func TestWriteWindowFuzzCorpus(t *testing.T) {
	if os.Getenv("TURNSTILE_WRITE_CORPUS") == "" {
		t.Skip("set TURNSTILE_WRITE_CORPUS=1 to regenerate the seed corpus")
	}
	dw := sampleDeviceWindow()
	dev, err := fuzzDeviceCodec(t).Marshal(&dw)
	if err != nil {
		t.Fatal(err)
	}
	sw := sampleStationWindow()
	st, err := fuzzStationCodec(t).Marshal(&sw)
	if err != nil {
		t.Fatal(err)
	}
	for fuzzer, good := range map[string][]byte{"FuzzDeviceWindowDecode": dev, "FuzzStationWindowDecode": st} {
		dir := filepath.Join("testdata", "fuzz", fuzzer)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range windowSeeds(good) {
			content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
