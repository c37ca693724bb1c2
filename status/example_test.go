package status_test

import (
	"context"
	"fmt"
	"log"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/processors"
	"github.com/turnstile-streams/turnstile/status"
)

// Example reports on an embedded broker where 10 readings and 2 rejects
// were produced and the ingest group committed 7 of the readings.
func Example() {
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("mta-turnstile"))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "mta-turnstile", "mta-turnstile-dlq"); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		cl.ProduceSync(ctx, kgo.StringRecord(strconv.Itoa(i)))
	}
	for i := 0; i < 2; i++ {
		cl.ProduceSync(ctx, &kgo.Record{Topic: "mta-turnstile-dlq", Value: []byte("bad")})
	}
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "mta-turnstile", Partition: 0, At: 7})
	if _, err := adm.CommitOffsets(ctx, "turnstile-ingest", offs); err != nil {
		log.Fatal(err)
	}

	cfg := status.ForPipeline(processors.Config{}, "")
	rep, err := status.Collect(ctx, adm, cfg)
	if err != nil {
		log.Fatal(err)
	}
	g, _ := rep.Group("turnstile-ingest")
	fmt.Println("ingest lag:", g.Lag, "caught up:", rep.CaughtUp(), "dead-lettered:", rep.DeadLettered)
	w, _ := rep.Group("turnstile-windows")
	fmt.Println("windows group absent:", w.Absent)
	// Output:
	// ingest lag: 3 caught up: false dead-lettered: 2
	// windows group absent: true
}
