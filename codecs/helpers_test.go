package codecs

import (
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

const testSubject = "mta-turnstile-value"

// offline is a Config whose registry is unreachable: port 1 on loopback
// refuses connections at once. Tests seed the caches instead.
func offline() Config {
	return Config{RegistryURL: "http://127.0.0.1:1", Subject: testSubject}
}

// seed caches writer schema text under id, as a registry fetch would.
func seed(t testing.TB, e *engine, id int, text string) {
	t.Helper()
	if _, err := newGoavroCodec(text); err != nil {
		t.Fatal(err)
	}
	e.store(id, compile(text, e.reader))
}

// seedWriter makes id the encoder's resolved writer id.
func seedWriter(t testing.TB, e *engine, id int) {
	t.Helper()
	seed(t, e, id, e.writerText)
	e.writerID.Store(int64(id))
}

func readingSchema(t testing.TB, v int) string {
	t.Helper()
	s, err := schemas.ReadingSchema(v)
	if err != nil {
		t.Fatal(err)
	}
	return s.Text
}

func newReadingCodec(t testing.TB, cfg ReadingConfig) *ReadingCodec {
	t.Helper()
	if cfg.Subject == "" {
		cfg.Config = offline()
	}
	c, err := NewReadingCodec(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var fixedNow = time.Date(2024, 1, 6, 12, 0, 0, 0, time.UTC)

func sampleReading() schemas.Reading {
	return schemas.Reading{
		CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W",
		Division: "BMT", Date: "12-30-23", Time: "03:00:00", Desc: "REGULAR",
		Entries: 102019, Exits: 73801, ID: "5f0e3c52-8a38-5c4e-9a4e-2f1c6f8a7b10",
		Timestamp: "2023-12-30 03:00:00",
	}
}
