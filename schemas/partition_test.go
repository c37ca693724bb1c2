package schemas_test

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
)

// TestPartitionMatchesGoka checks Partition and Partitioner against goka's
// own partitioning (its default hasher through sarama's hash partitioner,
// what goka's emitters and processors produce with) for device, station,
// control and arbitrary keys.
func TestPartitionMatchesGoka(t *testing.T) {
	keys := []string{"", "A002|R051|02-00-00", "59 ST|NQR456W", "~partition~0", "~partition~17", "\xff\xfe"}
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("R%03d|A%03d|%02d-00-%02d", i%500, i, i%7, i%13))
	}
	for _, n := range []int{1, 2, 3, 6, 7, 12, 64} {
		gk := sarama.NewCustomHashPartitioner(goka.DefaultHasher())("t")
		kp := schemas.Partitioner().ForTopic("t")
		for _, k := range keys {
			want, err := gk.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(k)}, int32(n))
			if err != nil {
				t.Fatal(err)
			}
			if got := schemas.Partition(k, n); got != want {
				t.Fatalf("%d partitions: Partition(%q) = %d, goka %d", n, k, got, want)
			}
			if got := kp.Partition(&kgo.Record{Key: []byte(k)}, n); int32(got) != want {
				t.Fatalf("%d partitions: Partitioner puts %q on %d, goka %d", n, k, got, want)
			}
		}
	}
}

func ExamplePartition() {
	fmt.Println(schemas.Partition("A002|R051|02-00-00", 8))
	// Output: 6
}
