package bench

import "hash/maphash"

// key128 is a 128-bit hash of a window's identity. The harness's maps of
// windows, which grow beside the pipeline being measured, are keyed by it
// instead of by strings: a map of strings is pointers that every garbage
// collection in the process marks, on the cores the pipeline needs (the
// station follower's map of whole windows cost ours 10 % of its CPU per
// reading in the throughput run, the latency phase's maps its p99).
type key128 [2]uint64

// hasher128 makes key128s; its two seeds are drawn once.
type hasher128 struct{ seeds [2]maphash.Seed }

func newHasher128() hasher128 {
	return hasher128{[2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// bytes is the key of b.
func (h hasher128) bytes(b []byte) key128 {
	return key128{maphash.Bytes(h.seeds[0], b), maphash.Bytes(h.seeds[1], b)}
}

// hashOf is the key of v, without building a string of it.
func hashOf[T comparable](h hasher128, v T) key128 {
	return key128{maphash.Comparable(h.seeds[0], v), maphash.Comparable(h.seeds[1], v)}
}
