package codecs_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

var now = time.Date(2024, 1, 6, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

func reading() schemas.Reading {
	return schemas.Reading{
		CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W",
		Division: "BMT", Date: "12-30-23", Time: "03:00:00", Desc: "REGULAR",
		Entries: 102019, Exits: 73801, ID: "5f0e3c52-8a38-5c4e-9a4e-2f1c6f8a7b10",
		Timestamp: "2023-12-30 03:00:00",
	}
}

func readingCodec(t *testing.T, url, subject string, version int) *codecs.ReadingCodec {
	t.Helper()
	c, err := codecs.NewReadingCodec(codecs.ReadingConfig{
		Config:        codecs.Config{RegistryURL: url, Subject: subject},
		WriterVersion: version,
		Now:           clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func goldenBody(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct{ Name, Hex string }
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Name == name {
			raw, err := hex.DecodeString(v.Hex)
			if err != nil {
				t.Fatal(err)
			}
			return raw[codecs.HeaderSize:]
		}
	}
	t.Fatalf("no vector %s", name)
	return nil
}

// TestRegistry runs the codecs against the embedded registry.
func TestRegistry(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	url := reg.URL()
	subject := schemas.Subject(schemas.DefaultInputTopic)

	// A v1 producer registers v1, then a v2 producer registers v2 (the
	// registry checks it is compatible): the subject has two versions.
	p1 := readingCodec(t, url, subject, 1)
	p2 := readingCodec(t, url, subject, 2)
	id1, err := p1.Prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := reading()
	b1, err := p1.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	r2 := reading()
	r2.EventTime, r2.Source = time.Date(2023, 12, 30, 3, 0, 0, 0, time.UTC), "csv:240106.csv.gz"
	b2, err := p2.Encode(&r2)
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := codecs.SchemaID(b2)
	if got, _ := codecs.SchemaID(b1); got != id1 || id1 == id2 {
		t.Fatalf("ids: v1 %d (%d), v2 %d", got, id1, id2)
	}
	// The Avro body is the independent encoder's, byte for byte.
	if !bytes.Equal(b1[codecs.HeaderSize:], goldenBody(t, "reading-v1")) {
		t.Errorf("v1 body differs from the golden vector")
	}
	if !bytes.Equal(b2[codecs.HeaderSize:], goldenBody(t, "reading-v2-event-time-source")) {
		t.Errorf("v2 body differs from the golden vector")
	}
	// Registering again is a lookup: same id.
	p1again := readingCodec(t, url, subject, 1)
	if id, err := p1again.Prepare(context.Background()); err != nil || id != id1 {
		t.Fatalf("re-resolve v1: %d, %v", id, err)
	}

	// A fresh consumer fetches both writer schemas and decodes both into the
	// same type, v1 with the v2 defaults.
	consumer := readingCodec(t, url, subject, 0)
	for _, tc := range []struct {
		in   []byte
		want schemas.Reading
	}{{b1, r}, {b2, r2}} {
		got, err := consumer.Decode(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, &tc.want) {
			t.Fatalf("got %+v\nwant %+v", got, tc.want)
		}
	}

	t.Run("unknown id", func(t *testing.T) {
		bad := append(codecs.AppendHeader(nil, 9999), b1[codecs.HeaderSize:]...)
		for i := 0; i < 2; i++ { // the second answer comes from the negative cache
			_, err := consumer.Decode(bad)
			var re *codecs.RejectError
			if !errors.As(err, &re) || re.Reason != codecs.ReasonUnknownSchemaID || re.SchemaID != 9999 {
				t.Fatalf("got %v", err)
			}
		}
	})

	t.Run("wrong subject", func(t *testing.T) {
		wc, err := codecs.NewDeviceWindowCodec(codecs.Config{RegistryURL: url, Subject: schemas.Subject(schemas.DefaultDeviceWindowsTopic)})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Date(2023, 12, 30, 0, 0, 0, 0, time.UTC)
		w := schemas.DeviceWindow{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", Revision: 1, EmittedAt: now}
		w.SetWindow(start, start.Add(4*time.Hour), nil)
		wb, err := wc.Marshal(&w)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := wc.Unmarshal(wb); err != nil || !reflect.DeepEqual(got, w) {
			t.Fatalf("window round trip: %+v %v", got, err)
		}
		_, err = consumer.Decode(wb)
		var re *codecs.RejectError
		if !errors.As(err, &re) || re.Reason != codecs.ReasonWrongSubject {
			t.Fatalf("window bytes through the reading codec: %v", err)
		}
		// The same schema registered under the late subject is accepted
		// by a codec for that subject, and the reading ids too once
		// registered there.
		lateSubject := schemas.Subject(schemas.DefaultLateTopic)
		late := readingCodec(t, url, lateSubject, 1)
		if id, err := late.Prepare(context.Background()); err != nil || id != id1 {
			t.Fatalf("v1 under the late subject: id %d (want %d), %v", id, id1, err)
		}
		if _, err := late.Decode(b1); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("lookup only", func(t *testing.T) {
		c, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{RegistryURL: url, Subject: "nothing-here-value", LookupOnly: true}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Encode(reading()); !errors.Is(err, codecs.ErrNotRegistered) || codecs.IsRetryable(err) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("incompatible registration", func(t *testing.T) {
		// v2 under a subject holding only a record of another name.
		dc, _ := codecs.NewDeviceWindowCodec(codecs.Config{RegistryURL: url, Subject: "mixed-value"})
		if _, err := dc.Prepare(context.Background()); err != nil {
			t.Fatal(err)
		}
		c := readingCodec(t, url, "mixed-value", 2)
		_, err := c.Prepare(context.Background())
		if err == nil || codecs.IsRetryable(err) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("concurrent decoders", func(t *testing.T) {
		fresh := readingCodec(t, url, subject, 0)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 50; j++ {
					in := b1
					if j%2 == 1 {
						in = b2
					}
					if _, err := fresh.Decode(in); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	t.Run("registry down", func(t *testing.T) {
		// A consumer with a warm cache and an encoder with a resolved id
		// keep working once the registry is gone; a never-seen id
		// is retryable, not a rejection.
		warm := readingCodec(t, url, subject, 0)
		if _, err := warm.Decode(b1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := reg.Close(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := warm.Decode(b1); err != nil {
				t.Fatalf("cached id with registry down: %v", err)
			}
			if _, err := p2.Encode(r2); err != nil {
				t.Fatalf("encode with resolved id, registry down: %v", err)
			}
		}
		_, err := warm.Decode(b2) // id2 never seen by this codec
		if !codecs.IsRetryable(err) || !errors.Is(err, codecs.ErrRegistryUnavailable) {
			t.Fatalf("unseen id with registry down: %v", err)
		}
		if _, ok := codecs.AsReject(err); ok {
			t.Fatal("outage reported as a rejection")
		}
	})
}

// TestSharedClient: codecs accept a caller-built srclient (e.g. with
// credentials) and share it.
func TestSharedClient(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	cl := srclient.NewSchemaRegistryClient(reg.URL())
	subject := "shared-value"
	enc, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: cl, Subject: subject}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: cl, Subject: subject}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	data, err := enc.Encode(reading())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Decode(data); err != nil {
		t.Fatal(err)
	}
}

// TestLookupOnlyAfterRegister: schemas registered by schemas.Register (the
// CLI's `schemas register`, through franz-go's sr client) are found by
// lookup-only encoders (srclient, which rewrites newlines in the schema
// text before sending it), with the same ids.
func TestLookupOnlyAfterRegister(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	ctx := context.Background()
	regs, err := schemas.Register(ctx, schemas.RegisterConfig{Registry: schemas.RegistryConfig{URL: reg.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{1, 2} {
		c, err := codecs.NewReadingCodec(codecs.ReadingConfig{
			Config:        codecs.Config{RegistryURL: reg.URL(), Subject: schemas.Subject(schemas.DefaultInputTopic), LookupOnly: true},
			WriterVersion: v,
		})
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.Prepare(ctx)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if want := regs[v-1].ID; id != want {
			t.Fatalf("v%d: id %d, registered %d", v, id, want)
		}
	}
}
