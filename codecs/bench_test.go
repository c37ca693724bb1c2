package codecs

import (
	"testing"
	"time"

	"github.com/turnstile-streams/turnstile/schemas"
)

// Benchmarks of the hot paths, with every id cached (no registry round
// trip): go test -run '^$' -bench . -benchmem ./codecs

func BenchmarkDecode(b *testing.B) {
	for _, v := range []int{1, 2} {
		b.Run([]string{"", "v1-writer", "v2-writer"}[v], func(b *testing.B) {
			enc := newReadingCodec(b, ReadingConfig{Config: offline(), WriterVersion: v})
			seedWriter(b, enc.e, 10+v)
			dec := newReadingCodec(b, ReadingConfig{Config: offline(), Now: func() time.Time { return fixedNow }})
			seed(b, dec.e, 10+v, enc.e.writerText)
			r := sampleReading()
			data, err := enc.Encode(&r)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := dec.DecodeReading(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeParallel(b *testing.B) {
	c := newReadingCodec(b, ReadingConfig{Config: offline(), Now: func() time.Time { return fixedNow }})
	seedWriter(b, c.e, 2)
	r := sampleReading()
	data, err := c.Encode(&r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.DecodeReading(data); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	c := newReadingCodec(b, ReadingConfig{Config: offline()})
	seedWriter(b, c.e, 2)
	r := sampleReading()
	r.EventTime, r.Source = fixedNow, "synthetic"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.EncodeReading(&r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeviceWindow(b *testing.B) {
	c, err := NewDeviceWindowCodec(offline())
	if err != nil {
		b.Fatal(err)
	}
	seedWriter(b, c.e, 3)
	w := schemas.DeviceWindow{CA: "A002", Unit: "R051", SCP: "02-00-00", Station: "59 ST", LineName: "NQR456W",
		Division: "BMT", Desc: "REGULAR", Entries: 5, Exits: 14, Revision: 1, EmittedAt: fixedNow}
	w.SetWindow(fixedNow.Add(-4*time.Hour), fixedNow, nil)
	data, err := c.Marshal(&w)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.Marshal(&w); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := c.Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
