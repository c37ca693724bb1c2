package producer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/producer"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestRunFailsClearlyWithoutKafka: a producer that cannot use Kafka says
// so instead of buffering records forever: at once when waiting cannot
// help (TLS trusting another CA, plaintext to a TLS listener), after
// ConnectTimeout when nothing answers, with the hint that fits: the
// address when nothing listens there or the name does not resolve, the
// SASL credentials only when a SASL broker closed the connection. The
// summary says how long it took.
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
	sb, err := broker.Start(ctx, broker.Config{Users: []broker.User{{Mechanism: "SCRAM-SHA-512", Name: "u", Password: "right"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	tests := []struct {
		name    string
		opts    []kgo.Opt
		want    []string
		notWant string
		within  time.Duration
	}{
		{"other CA", opts(clientconf.Config{Brokers: []string{tb.Addr()}, SecurityProtocol: "SSL", SSLCALocation: other.CA}),
			[]string{"certificate signed by unknown authority"}, "", 5 * time.Second},
		{"plaintext to TLS", opts(clientconf.Config{Brokers: []string{tb.Addr()}}), []string{"is TLS missing"}, "", 5 * time.Second},
		{"nothing listening", []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")},
			[]string{"cannot reach the broker at 127.0.0.1:1", "is it running?", "--brokers", "connection refused"}, "SASL", 5 * time.Second},
		{"unknown host", []kgo.Opt{kgo.SeedBrokers("no-such-broker.invalid:9092")},
			[]string{"cannot resolve the broker address no-such-broker.invalid:9092", "--brokers"}, "SASL", 5 * time.Second},
		{"wrong SASL password", opts(clientconf.Config{Brokers: []string{sb.Addr()}, SecurityProtocol: "SASL_PLAINTEXT",
			SASLMechanism: "SCRAM-SHA-512", SASLUsername: "u", SASLPassword: "wrong"}),
			[]string{"closed the connection", "sasl.password"}, "", 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			sum, err := producer.Run(ctx, producer.Config{RegistryURL: e.registry, KafkaOpts: tc.opts, Limit: 5, Speed: -1,
				ConnectTimeout: 2 * time.Second, Progress: producer.ProgressOff})
			if err == nil || sum.Sent != 0 {
				t.Fatalf("sent %d: %v; want an error", sum.Sent, err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("error %q mentions %s", err, tc.notWant)
			}
			d := time.Since(start)
			if d > tc.within {
				t.Errorf("took %v", d)
			}
			if sum.Elapsed <= 0 || sum.Elapsed > d {
				t.Errorf("summary says it took %v, it took %v", sum.Elapsed, d)
			}
			t.Logf("%v: %v", sum.Elapsed.Round(time.Millisecond), err)
		})
	}
}
