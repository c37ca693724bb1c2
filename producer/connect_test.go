package producer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/internal/testenv"
	"github.com/turnstile-streams/turnstile/producer"
)

// TestRunFailsClearlyWithoutKafka: a producer that cannot use Kafka says
// so instead of buffering records forever: at once when waiting cannot
// help (TLS trusting another CA, plaintext to a TLS listener), after
// ConnectTimeout when nothing answers.
func TestRunFailsClearlyWithoutKafka(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	certs, other := testenv.TLS(t), testenv.TLS(t)
	tb, err := broker.Start(ctx, broker.Config{TLS: certs.Server})
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	opts := func(c clientconf.Config) []kgo.Opt {
		o, err := c.KgoOpts()
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	tests := []struct {
		name   string
		opts   []kgo.Opt
		want   string
		within time.Duration
	}{
		{"other CA", opts(clientconf.Config{Brokers: []string{tb.Addr()}, SecurityProtocol: "SSL", SSLCALocation: other.CA}),
			"certificate signed by unknown authority", 5 * time.Second},
		{"plaintext to TLS", opts(clientconf.Config{Brokers: []string{tb.Addr()}}), "is TLS missing", 5 * time.Second},
		{"nothing listening", []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, "did not answer for 2s", 15 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			sum, err := producer.Run(ctx, producer.Config{RegistryURL: e.registry, KafkaOpts: tc.opts, Limit: 5, Speed: -1,
				ConnectTimeout: 2 * time.Second, Progress: producer.ProgressOff})
			if err == nil || !strings.Contains(err.Error(), tc.want) || sum.Sent != 0 {
				t.Fatalf("sent %d: %v; want an error with %q", sum.Sent, err, tc.want)
			}
			if d := time.Since(start); d > tc.within {
				t.Errorf("took %v", d)
			}
		})
	}
}
