package clientconf_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// codecOf is the codec id Kafka's batch attributes carry for each name.
var codecOf = map[string]uint8{
	clientconf.CompressionNone: 0, clientconf.CompressionGzip: 1, clientconf.CompressionSnappy: 2,
	clientconf.CompressionLZ4: 3, clientconf.CompressionZstd: 4,
}

// TestCompressionReachesTheBatches: the batches both client libraries
// write with this package's options carry the configured codec in their
// attributes (as a consumer reads them back), and the default is one
// stock kafkajs reads (none or gzip).
func TestCompressionReachesTheBatches(t *testing.T) {
	b := testenv.Broker(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Compressible values: franz-go keeps a batch uncompressed when the
	// codec would not make it smaller.
	value := bytes.Repeat([]byte("A002|R051|02-00-00|59 ST|NQR456W|BMT|REGULAR|"), 8)
	tests := []struct {
		name   string
		config string // Config.Compression
		want   string
	}{
		{"default", "", clientconf.DefaultCompression},
		{"none", "none", clientconf.CompressionNone},
		{"gzip", "gzip", clientconf.CompressionGzip},
		{"snappy", "snappy", clientconf.CompressionSnappy},
		{"lz4", "lz4", clientconf.CompressionLZ4},
		{"zstd", "zstd", clientconf.CompressionZstd},
		{"upper case", "GZIP", clientconf.CompressionGzip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clientconf.Config{Brokers: []string{b.Addr()}, Compression: tt.config}
			kgoTopic, saramaTopic := "kgo-"+strings.ReplaceAll(tt.name, " ", "-"), "sarama-"+strings.ReplaceAll(tt.name, " ", "-")
			testenv.CreateTopic(t, b.Addr(), kgoTopic, 1, nil)
			testenv.CreateTopic(t, b.Addr(), saramaTopic, 1, nil)

			opts, err := c.KgoOpts()
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(append(opts, kgo.ProducerLinger(50*time.Millisecond))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			var recs []*kgo.Record
			for i := range 20 {
				recs = append(recs, &kgo.Record{Topic: kgoTopic, Key: []byte(fmt.Sprint(i)), Value: value})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("kgo produce: %v", err)
			}

			sc := sarama.NewConfig()
			sc.Version = sarama.V2_1_0_0
			sc.Producer.Return.Successes = true
			sc.Producer.Flush.Messages = 20
			sc.Producer.Flush.Frequency = time.Second
			if err := c.ApplySarama(sc); err != nil {
				t.Fatal(err)
			}
			sp, err := sarama.NewAsyncProducer(c.Brokers, sc)
			if err != nil {
				t.Fatal(err)
			}
			for range 20 {
				sp.Input() <- &sarama.ProducerMessage{Topic: saramaTopic, Value: sarama.ByteEncoder(value)}
			}
			for range 20 {
				select {
				case <-sp.Successes():
				case perr := <-sp.Errors():
					t.Fatalf("sarama produce: %v", perr)
				case <-ctx.Done():
					t.Fatal("sarama produce: timed out")
				}
			}
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}

			for _, topic := range []string{kgoTopic, saramaTopic} {
				got := batchCodecs(t, ctx, b.Addr(), topic, 20)
				if len(got) != 1 || !got[codecOf[tt.want]] {
					t.Errorf("%s: batch codecs %v, want only %s (%d)", topic, got, tt.want, codecOf[tt.want])
				}
			}
		})
	}
	if d := clientconf.DefaultCompression; d != clientconf.CompressionNone && d != clientconf.CompressionGzip {
		t.Errorf("default compression %s: stock kafkajs reads only none and gzip", d)
	}
}

// batchCodecs reads n records of topic and returns the codecs of their
// batches.
func batchCodecs(t *testing.T, ctx context.Context, addr, topic string, n int) map[uint8]bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[uint8]bool{}
	for read := 0; read < n; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d of %d records", topic, read, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Attrs.CompressionType()] = true
			read++
		})
	}
	return got
}

func TestCompressionSettings(t *testing.T) {
	tests := []struct {
		name     string
		props    string
		explicit map[string]bool
		start    string
		want     string
		wantErr  string
	}{
		{"from the properties file", "compression.type=zstd\n", nil, "", "zstd", ""},
		{"an explicit flag wins over the file", "compression.type=zstd\n", map[string]bool{"compression.type": true}, "lz4", "lz4", ""},
		{"not in the file", "", nil, "gzip", "gzip", ""},
		{"unknown codec", "compression.type=brotli\n", nil, "", "", `unsupported compression "brotli"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props, err := clientconf.ParseProperties(strings.NewReader("bootstrap.servers=b:1\n" + tt.props))
			if err != nil {
				t.Fatal(err)
			}
			c := clientconf.Config{Compression: tt.start}
			unknown, err := c.ApplyProperties(props, tt.explicit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, kerr := c.KgoOpts(); kerr == nil {
					t.Fatal("KgoOpts accepted an unknown codec")
				}
				return
			}
			if err != nil || len(unknown) > 0 {
				t.Fatalf("err %v, unknown keys %v", err, unknown)
			}
			if c.Compression != tt.want {
				t.Fatalf("compression %q, want %q", c.Compression, tt.want)
			}
			if s := c.String(); !strings.Contains(s, "compression="+tt.want) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}
