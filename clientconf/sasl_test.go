package clientconf_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/clientconf"
)

// TestSASLAgainstEmbeddedBroker proves both client libraries authenticate
// with the options this package builds, for every mechanism, and that a
// wrong password fails without the password showing in the error.
func TestSASLAgainstEmbeddedBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Users: []broker.User{
		{Mechanism: "PLAIN", Name: "plainuser", Password: "p1"},
		{Mechanism: "SCRAM-SHA-256", Name: "u256", Password: "p2"},
		{Mechanism: "SCRAM-SHA-512", Name: "u512", Password: "p3"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	for _, tc := range []struct{ mech, user, pass string }{
		{"PLAIN", "plainuser", "p1"}, {"SCRAM-SHA-256", "u256", "p2"}, {"SCRAM-SHA-512", "u512", "p3"},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			c := clientconf.Config{Brokers: []string{b.Addr()}, SecurityProtocol: "SASL_PLAINTEXT",
				SASLMechanism: tc.mech, SASLUsername: tc.user, SASLPassword: tc.pass}
			opts, err := c.KgoOpts()
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).BrokerMetadata(ctx); err != nil {
				t.Fatalf("kgo: %v", err)
			}

			sc := sarama.NewConfig()
			if err := c.ApplySarama(sc); err != nil {
				t.Fatal(err)
			}
			sc.Version = sarama.V2_1_0_0
			sb, err := sarama.NewClient(c.Brokers, sc)
			if err != nil {
				t.Fatalf("sarama: %v", err)
			}
			sb.Close()

			bad := c
			bad.SASLPassword = "wrong-secret-xyz"
			sc2 := sarama.NewConfig()
			sc2.Metadata.Retry.Max = 0
			if err := bad.ApplySarama(sc2); err != nil {
				t.Fatal(err)
			}
			_, err = sarama.NewClient(c.Brokers, sc2)
			if err == nil {
				t.Fatal("sarama authenticated with a wrong password")
			}
			if strings.Contains(err.Error(), "wrong-secret-xyz") {
				t.Fatalf("password leaked in error: %v", err)
			}
		})
	}
}
