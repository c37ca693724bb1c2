package clientconf_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/clientconf"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestTLSAgainstEmbeddedBroker proves both client libraries reach a TLS
// broker with the settings of a properties file (SSL, and SASL_SSL with
// SCRAM), and that a client trusting another CA, or none, is refused.
func TestTLSAgainstEmbeddedBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	certs := testenv.TLS(t)
	other := testenv.TLS(t) // a CA that did not sign the broker's certificate
	tlsOnly, err := broker.Start(ctx, broker.Config{TLS: certs.Server})
	if err != nil {
		t.Fatal(err)
	}
	defer tlsOnly.Close()
	saslTLS, err := broker.Start(ctx, broker.Config{TLS: certs.Server,
		Users: []broker.User{{Mechanism: "SCRAM-SHA-512", Name: "turnstile", Password: "tls-scram-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer saslTLS.Close()

	props := func(t *testing.T, lines ...string) clientconf.Config {
		t.Helper()
		path := filepath.Join(t.TempDir(), "client.properties")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var c clientconf.Config
		if _, err := c.LoadProperties(path, nil); err != nil {
			t.Fatal(err)
		}
		return c
	}
	reach := func(c clientconf.Config) (kgoErr, saramaErr error) {
		opts, err := c.KgoOpts()
		if err != nil {
			return err, err
		}
		cl, err := kgo.NewClient(append(opts, kgo.RequestRetries(0))...)
		if err != nil {
			return err, err
		}
		defer cl.Close()
		mctx, mcancel := context.WithTimeout(ctx, 10*time.Second)
		defer mcancel()
		_, kgoErr = kadm.NewClient(cl).BrokerMetadata(mctx)

		sc := sarama.NewConfig()
		sc.Version = sarama.V2_1_0_0
		sc.Metadata.Retry.Max = 0
		if err := c.ApplySarama(sc); err != nil {
			return kgoErr, err
		}
		sb, err := sarama.NewClient(c.Brokers, sc)
		if err == nil {
			sb.Close()
		}
		return kgoErr, err
	}

	tests := []struct {
		name  string
		lines []string
		ok    bool
	}{
		{"SSL", []string{"bootstrap.servers=" + tlsOnly.Addr(), "security.protocol=SSL", "ssl.ca.location=" + certs.CA}, true},
		{"SSL, other CA", []string{"bootstrap.servers=" + tlsOnly.Addr(), "security.protocol=SSL", "ssl.ca.location=" + other.CA}, false},
		{"SSL, system CAs", []string{"bootstrap.servers=" + tlsOnly.Addr(), "security.protocol=SSL"}, false},
		{"plaintext to TLS", []string{"bootstrap.servers=" + tlsOnly.Addr()}, false},
		{"SASL_SSL", []string{"bootstrap.servers=" + saslTLS.Addr(), "security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512",
			"sasl.username=turnstile", "sasl.password=tls-scram-secret", "ssl.ca.location=" + certs.CA}, true},
		{"SASL_SSL, wrong password", []string{"bootstrap.servers=" + saslTLS.Addr(), "security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512",
			"sasl.username=turnstile", "sasl.password=wrong-tls-secret", "ssl.ca.location=" + certs.CA}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kerr, serr := reach(props(t, tc.lines...))
			for lib, err := range map[string]error{"kgo": kerr, "sarama": serr} {
				if tc.ok && err != nil {
					t.Errorf("%s: %v", lib, err)
				}
				if !tc.ok && err == nil {
					t.Errorf("%s connected", lib)
				}
				if err != nil && (strings.Contains(err.Error(), "tls-scram-secret") || strings.Contains(err.Error(), "wrong-tls-secret")) {
					t.Errorf("%s: password in error: %v", lib, err)
				}
			}
		})
	}
}
