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
// partitioning with the pipeline's hasher (sarama's hash partitioner, what
// goka's emitters and processors produce with), and, for every key that is
// not a reading key, against goka's default hasher: control, station, sink
// and arbitrary keys are placed as goka always placed them.
func TestPartitionMatchesGoka(t *testing.T) {
	keys := []string{"", "A002|R051|02-00-00", "59 ST|NQR456W", "~partition~0", "~partition~17", "\xff\xfe",
		"59 ST|NQR456W|A002|R051|02-00-00|2024-01-01T00:00:00Z"}
	var reading []string
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("R%03d|A%03d|%02d-00-%02d", i%500, i, i%7, i%13))
		reading = append(reading, schemas.ReadingKey(fmt.Sprintf("ST %d", i%97), "NQR", fmt.Sprintf("A%03d", i), "R001", "00-00-01"))
	}
	for _, n := range []int{1, 2, 3, 6, 7, 12, 64} {
		ours := sarama.NewCustomHashPartitioner(schemas.Hasher())("t")
		def := sarama.NewCustomHashPartitioner(goka.DefaultHasher())("t")
		kp := schemas.Partitioner().ForTopic("t")
		for _, k := range append(keys, reading...) {
			want, err := ours.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(k)}, int32(n))
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
		for _, k := range keys {
			want, _ := def.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(k)}, int32(n))
			if got := schemas.Partition(k, n); got != want {
				t.Fatalf("%d partitions: Partition(%q) = %d, goka's default hasher %d", n, k, got, want)
			}
		}
	}
}

// TestStationOnOnePartition: every device of a station is on the
// station's partition, whatever its CA, UNIT and SCP.
func TestStationOnOnePartition(t *testing.T) {
	for _, st := range []struct{ name, line string }{{"59 ST", "NQR456W"}, {"86 ST", "1"}, {"86 ST", "456"}, {"X", ""}} {
		want := schemas.Partition(schemas.StationKey(st.name, st.line), 6)
		for i := range 50 {
			k := schemas.ReadingKey(st.name, st.line, fmt.Sprintf("A%03d", i), fmt.Sprintf("R%03d", i%7), fmt.Sprintf("%02d-00-00", i%5))
			if got := schemas.Partition(k, 6); got != want {
				t.Fatalf("%s on partition %d, its station %s|%s on %d", k, got, st.name, st.line, want)
			}
			if got := schemas.RouteKey(k); got != schemas.StationKey(st.name, st.line) {
				t.Fatalf("RouteKey(%q) = %q", k, got)
			}
		}
	}
}

func TestSplitReadingKey(t *testing.T) {
	for _, tc := range []struct {
		key, station, device string
		ok                   bool
	}{
		{"59 ST|NQR456W|A002|R051|02-00-00", "59 ST|NQR456W", "A002|R051|02-00-00", true},
		{"X||A|R|S", "X|", "A|R|S", true},
		{"A002|R051|02-00-00", "", "", false},
		{"~partition~3", "", "", false},
	} {
		st, dev, ok := schemas.SplitReadingKey(tc.key)
		if st != tc.station || dev != tc.device || ok != tc.ok {
			t.Errorf("SplitReadingKey(%q) = %q, %q, %v", tc.key, st, dev, ok)
		}
	}
}

func ExamplePartition() {
	// A device is placed by its station: both keys are on one partition.
	fmt.Println(schemas.Partition("59 ST|NQR456W|A002|R051|02-00-00", 8), schemas.Partition("59 ST|NQR456W", 8))
	// Output: 1 1
}

// TestHasKey: HasKey says exactly what comparing with Key says, for keys
// that differ anywhere, in length or only in where a separator falls.
func TestHasKey(t *testing.T) {
	r := schemas.Reading{Station: "59 ST", LineName: "NQR456W", CA: "A002", Unit: "R051", SCP: "02-00-00"}
	odd := schemas.Reading{Station: "A|B", LineName: "", CA: "C", Unit: "D", SCP: "E"}
	for _, tc := range []struct {
		r   schemas.Reading
		key string
	}{
		{r, "59 ST|NQR456W|A002|R051|02-00-00"},
		{r, "59 ST|NQR456W|A002|R051|02-00-0"},
		{r, "59 ST|NQR456W|A002|R051|02-00-001"},
		{r, "59 ST|NQR456W|A002|R051"},
		{r, "59 ST|NQR456WA002|R051|02-00-00|"},
		{r, "59 ST|NQR456W|A002|R052|02-00-00"},
		{r, ""},
		{odd, "A|B||C|D|E"},
		{odd, "A||B|C|D|E"},
		{odd, "A|B|C|D|E"},
	} {
		if got, want := tc.r.HasKey(tc.key), tc.key == tc.r.Key(); got != want {
			t.Errorf("%+v HasKey(%q) = %v, Key() is %q", tc.r, tc.key, got, tc.r.Key())
		}
	}
}
