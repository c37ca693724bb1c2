package clientconf

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Compression codecs for the batches our producers write, by their Kafka
// names (the producer property compression.type).
const (
	CompressionNone   = "none"
	CompressionGzip   = "gzip"
	CompressionSnappy = "snappy"
	CompressionLZ4    = "lz4"
	CompressionZstd   = "zstd"
)

// DefaultCompression is the codec used when Config.Compression is empty.
// Every Kafka client reads uncompressed batches, stock kafkajs included
// (it decodes gzip and nothing else without plugins); see docs/operations.md's
// Compression section for the measurements behind the choice.
const DefaultCompression = CompressionNone

// Compressions lists the codecs Config.Compression accepts.
func Compressions() []string {
	return []string{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}
}

// compression returns the configured codec, lower case, or the default.
func (c Config) compression() string {
	if c.Compression == "" {
		return DefaultCompression
	}
	return strings.ToLower(c.Compression)
}

func (c Config) validateCompression() error {
	if !slices.Contains(Compressions(), c.compression()) {
		return fmt.Errorf("clientconf: unsupported compression %q (want %s)", c.Compression, strings.Join(Compressions(), ", "))
	}
	return nil
}

// kgoCompression is the franz-go codec of c's compression.
func (c Config) kgoCompression() kgo.CompressionCodec {
	switch c.compression() {
	case CompressionGzip:
		return kgo.GzipCompression()
	case CompressionSnappy:
		return kgo.SnappyCompression()
	case CompressionLZ4:
		return kgo.Lz4Compression()
	case CompressionZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// kgoCompressor is the franz-go option for c's compression. It hands
// franz-go a compressor built here rather than kgo.ProducerBatchCompression:
// every client built from that option deduplicates its codec list in
// place, a data race when a member starts several clients at once from one
// option set (its relays, tickers and admin). A compressor is safe for
// concurrent use (one client's producers already share it).
func (c Config) kgoCompressor() (kgo.Opt, error) {
	comp, err := kgo.DefaultCompressor(c.kgoCompression())
	if err != nil {
		return nil, fmt.Errorf("clientconf: compression: %w", err)
	}
	if comp == nil { // none: franz-go would fall back to its default, snappy
		comp = passthrough{}
	}
	return kgo.WithCompressor(comp), nil
}

// passthrough compresses nothing: a nil result leaves a batch as it is.
type passthrough struct{}

func (passthrough) Compress(*bytes.Buffer, []byte, ...kgo.CompressFlag) ([]byte, kgo.CompressionCodecType) {
	return nil, kgo.CodecNone
}

// saramaCompression is the sarama codec of c's compression.
func (c Config) saramaCompression() sarama.CompressionCodec {
	switch c.compression() {
	case CompressionGzip:
		return sarama.CompressionGZIP
	case CompressionSnappy:
		return sarama.CompressionSnappy
	case CompressionLZ4:
		return sarama.CompressionLZ4
	case CompressionZstd:
		return sarama.CompressionZSTD
	}
	return sarama.CompressionNone
}
