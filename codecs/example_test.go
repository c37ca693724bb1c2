package codecs_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
)

func ExampleSchemaID() {
	payload := codecs.AppendHeader(nil, 42) // followed by the Avro body
	fmt.Printf("% x\n", payload)
	fmt.Println(codecs.SchemaID(payload))
	fmt.Println(codecs.SchemaID([]byte("A002,R051,...")))
	// Output:
	// 00 00 00 00 2a
	// 42 true
	// -1 false
}

// A consumer decodes, and branches on the error: rejections go to the
// dead-letter topic, registry outages are retried.
func ExampleReadingCodec_Decode() {
	c, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{
		RegistryURL: "http://127.0.0.1:8081",
		Subject:     schemas.Subject(schemas.DefaultInputTopic),
	}})
	if err != nil {
		log.Fatal(err)
	}
	for _, payload := range [][]byte{nil, []byte("A002,R051,02-00-00"), {0, 0, 0}} {
		_, err := c.Decode(payload)
		var rej *codecs.RejectError
		switch {
		case errors.As(err, &rej):
			fmt.Println("dead-letter:", rej.Reason, rej.SchemaID)
		case codecs.IsRetryable(err):
			fmt.Println("retry later")
		}
	}
	// Output:
	// dead-letter: empty -1
	// dead-letter: magic-byte -1
	// dead-letter: truncated -1
}

// A producer encodes with the writer version it wants; the id is registered
// (or looked up) under the subject on the first Encode.
func ExampleNewReadingCodec() {
	c, err := codecs.NewReadingCodec(codecs.ReadingConfig{
		Config:        codecs.Config{RegistryURL: "http://127.0.0.1:8081", Subject: "mta-turnstile-value"},
		WriterVersion: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	r := schemas.Reading{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W",
		Division: "BMT", Date: "12-30-23", Time: "03:00:00", Desc: "REGULAR", Entries: 102019, Exits: 73801,
		ID: "5f0e3c52-8a38-5c4e-9a4e-2f1c6f8a7b10", Timestamp: "2023-12-30 03:00:00"}
	payload, err := c.Encode(r)
	if err != nil {
		log.Fatal(err)
	}
	back, err := c.Decode(payload)
	fmt.Println(back.(*schemas.Reading).DeviceKey(), err)
}
