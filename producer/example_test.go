package producer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/schemas"
)

func ExampleBooths() {
	booths, err := producer.Booths()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(booths), booths[0])
	// Output: 768 {R001 A060 WHITEHALL ST R1 BMT}
}

func ExampleClientOpts() {
	// A client whose keys land where goka (sarama) expects them.
	cl, err := kgo.NewClient(producer.ClientOpts(kgo.SeedBrokers("127.0.0.1:9092"))...)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	p := schemas.Partitioner().ForTopic("mta-turnstile")
	fmt.Println(p.Partition(&kgo.Record{Key: []byte("A002|R051|02-00-00")}, 8))
	// Output: 6
}

// Run a demo stream: event time at ten minutes per second, with a few late,
// duplicate and malformed readings, until ctx is done.
func ExampleRun_synthetic() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := producer.Run(ctx, producer.Config{
		RegistryURL:       "http://127.0.0.1:8081",
		KafkaOpts:         []kgo.Opt{kgo.SeedBrokers("127.0.0.1:9092")},
		Speed:             600,
		LateFraction:      0.02,
		DuplicateFraction: 0.01,
		BadFraction:       0.01,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sent %d records (%d bytes), %d failed\n", sum.Sent, sum.Bytes, sum.Failed)
}

// Replay a week of real readings as fast as possible, in event-time order.
func ExampleRun_csv() {
	sum, err := producer.Run(context.Background(), producer.Config{
		Source:      producer.SourceCSV,
		CSV:         producer.CSVConfig{Path: "240106.csv.gz"},
		RegistryURL: "http://127.0.0.1:8081",
		KafkaOpts:   []kgo.Opt{kgo.SeedBrokers("127.0.0.1:9092")},
		Progress:    producer.ProgressOn,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum.Sent, sum.Elapsed)
}
