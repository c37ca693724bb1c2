package replay_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/replay"
)

// Reprocess everything with a retention long enough for readings that were
// too late the first time: check, show the plan, carry it out.
func Example() {
	ctx := context.Background()
	plan, err := replay.Prepare(ctx, replay.Config{
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:9092")},
		From:      replay.Earliest,
		Retention: 30 * 24 * time.Hour,
	})
	var active *replay.ActiveError
	if errors.As(err, &active) {
		fmt.Println("stop these members first:", active.Members)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	plan.Print(os.Stdout)
	if err := plan.Execute(ctx); err != nil {
		fmt.Println(err)
	}
}
