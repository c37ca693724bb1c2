package schemas

import (
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Partition is the partition goka puts key on among n partitions: goka's
// default hasher (FNV-1a, 32 bits) through sarama's hash partitioner, which
// takes the hash as an int32, modulo n, negated when negative. Every
// producer of a topic a goka group reads or looks keys up in must agree
// with it; [Partitioner] is the same mapping for franz-go clients.
func Partition(key string, n int) int32 {
	h := fnv.New32a()
	h.Write([]byte(key))
	p := int32(h.Sum32()) % int32(n)
	if p < 0 {
		p = -p
	}
	return p
}

// Partitioner places keyed records as [Partition] does (records without a
// key stick to one partition per batch), so a goka processor consuming what
// a franz-go client produced finds each key where it expects.
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))
}

func fnv32a(b []byte) uint32 {
	h := fnv.New32a()
	h.Write(b)
	return h.Sum32()
}
