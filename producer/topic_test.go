package producer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestRunStopsOnMissingTopic: producing to a topic that does not exist
// stops at the first failed record with an error saying so, instead of
// sending the rest of a paced stream into it (a rate-limited run used to
// take 42 s and 2,863 failed records to end); Prepare runs before the
// first record and can create the topic, or stop the run.
func TestRunStopsOnMissingTopic(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := producer.Config{RegistryURL: e.registry, KafkaOpts: []kgo.Opt{kgo.SeedBrokers(e.broker)},
		Rate: 200, Limit: 100_000, Progress: producer.ProgressOff}
	tests := []struct {
		name     string
		topic    string
		prepare  func(ctx context.Context, cl *kgo.Client) error
		wantSent int64
		check    func(t *testing.T, err error)
	}{
		{name: "missing topic", topic: "absent-topic", check: func(t *testing.T, err error) {
			var de *producer.DeliveryError
			if !errors.As(err, &de) || !de.MissingTopic() || de.Topic != "absent-topic" || de.Failed > 500 {
				t.Fatalf("err %v", err)
			}
		}},
		{name: "prepare fails", topic: "absent-topic", prepare: func(context.Context, *kgo.Client) error { return errors.New("no such topic, create it") },
			check: func(t *testing.T, err error) {
				if err == nil || err.Error() != "no such topic, create it" {
					t.Fatalf("err %v", err)
				}
			}},
		{name: "prepare creates it", topic: "created-topic", wantSent: 20, prepare: func(context.Context, *kgo.Client) error {
			testenv.CreateTopic(t, e.broker, "created-topic", 2, nil)
			return nil
		}, check: func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.Topic, cfg.Prepare = tt.topic, tt.prepare
			cfg.Logger = testenv.Logger(t)
			if tt.wantSent > 0 {
				cfg.Limit, cfg.Rate = tt.wantSent, 0
			}
			start := time.Now()
			sum, err := producer.Run(ctx, cfg)
			tt.check(t, err)
			if sum.Sent != tt.wantSent {
				t.Errorf("sent %d, want %d", sum.Sent, tt.wantSent)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}
