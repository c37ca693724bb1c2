package processors

import (
	"fmt"

	"github.com/turnstile-streams/turnstile/schemas"
)

// controlKeyPrefix starts every control key. Control keys have no key
// separator, reading keys four, so the two never clash.
const controlKeyPrefix = "~partition~"

// controlKeys returns, for each partition, a key that goka's partitioner
// (FNV-1a, as sarama's hash partitioner) places on that partition. Ticks
// are sent to it and the partition's metadata is stored under it. Device
// keys contain '|' and station keys too, so "~partition~" keys never clash.
func controlKeys(partitions int) []string {
	keys := make([]string, partitions)
	found := 0
	for i := 0; found < partitions; i++ {
		k := fmt.Sprintf("%s%d", controlKeyPrefix, i)
		p := schemas.Partition(k, partitions)
		if keys[p] == "" {
			keys[p] = k
			found++
		}
	}
	return keys
}
