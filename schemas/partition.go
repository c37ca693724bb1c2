package schemas

import (
	"hash"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadingKey is the key a reading is processed under:
// STATION|LINENAME|CA|UNIT|SCP, its station first, then its device. It is
// the key of the device's state in the windowed stage's table, of the
// re-keyed readings topic, and the key to produce readings with so that
// they are processed where they land (see [Partition]). A device whose
// STATION or LINENAME changes is another key: a new series.
func ReadingKey(station, lineName, ca, unit, scp string) string {
	return StationKey(station, lineName) + KeySeparator + DeviceKey(ca, unit, scp)
}

// Key returns the reading's [ReadingKey].
func (r *Reading) Key() string { return ReadingKey(r.Station, r.LineName, r.CA, r.Unit, r.SCP) }

// HasKey says whether key is the reading's [ReadingKey], without building
// it (a processor asks for every record it takes).
func (r *Reading) HasKey(key string) bool {
	for i, part := range [...]string{r.Station, r.LineName, r.CA, r.Unit, r.SCP} {
		if i > 0 {
			if !strings.HasPrefix(key, KeySeparator) {
				return false
			}
			key = key[len(KeySeparator):]
		}
		if !strings.HasPrefix(key, part) {
			return false
		}
		key = key[len(part):]
	}
	return key == ""
}

// SplitReadingKey splits a key made by [ReadingKey] into its station key
// (STATION|LINENAME) and device key (CA|UNIT|SCP).
func SplitReadingKey(key string) (station, device string, ok bool) {
	if strings.Count(key, KeySeparator) != 4 {
		return "", "", false
	}
	i := strings.Index(key, KeySeparator)
	j := i + 1 + strings.Index(key[i+1:], KeySeparator)
	return key[:j], key[j+1:], true
}

// RouteKey is the part of a key that decides its partition: the station
// key of a [ReadingKey] (so every device of a station is on one
// partition), the whole key otherwise (control keys, sink keys, any other
// key).
func RouteKey(key string) string {
	if st, _, ok := SplitReadingKey(key); ok {
		return st
	}
	return key
}

// Partition is the partition of key among n partitions, the one key ->
// partition function of the pipeline: FNV-1a (32 bits) of [RouteKey],
// through sarama's hash partitioner (the hash as an int32, modulo n,
// negated when negative), which is goka's default for keys that are not
// reading keys. goka places emits and table writes with it through
// [Hasher]; franz-go clients with [Partitioner].
func Partition(key string, n int) int32 {
	h := Hasher()()
	h.Write([]byte(key))
	p := int32(h.Sum32()) % int32(n)
	if p < 0 {
		p = -p
	}
	return p
}

// Hasher is [Partition]'s hash for goka (goka.WithHasher,
// goka.WithViewHasher, goka.WithEmitterHasher), which sarama's hash
// partitioner feeds the whole key.
func Hasher() func() hash.Hash32 { return func() hash.Hash32 { return new(routeHash) } }

// Partitioner places keyed records as [Partition] does (records without a
// key stick to one partition per batch), so a goka processor consuming what
// a franz-go client produced finds each key where it expects.
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(func(b []byte) uint32 {
		h := routeHash{}
		h.Write(b)
		return h.Sum32()
	}))
}

// routeHash is FNV-1a over a key's RouteKey, computed in one pass: the hash
// of the whole key and of its first two parts, and the separator count that
// says which one is the route.
type routeHash struct {
	all, prefix uint32
	seps        int
	started     bool
}

const (
	fnvOffset = 2166136261
	fnvPrime  = 16777619
)

func (h *routeHash) Write(b []byte) (int, error) {
	if !h.started {
		h.all, h.prefix, h.started = fnvOffset, fnvOffset, true
	}
	for _, c := range b {
		if c == KeySeparator[0] {
			h.seps++
		}
		h.all = (h.all ^ uint32(c)) * fnvPrime
		if h.seps < 2 {
			h.prefix = (h.prefix ^ uint32(c)) * fnvPrime
		}
	}
	return len(b), nil
}

func (h *routeHash) Sum32() uint32 {
	switch {
	case !h.started:
		return fnvOffset
	case h.seps == 4:
		return h.prefix
	}
	return h.all
}

func (h *routeHash) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
func (h *routeHash) Reset()         { *h = routeHash{} }
func (h *routeHash) Size() int      { return 4 }
func (h *routeHash) BlockSize() int { return 1 }
