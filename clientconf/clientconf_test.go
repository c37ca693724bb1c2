package clientconf_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/clientconf"
)

func TestLoadProperties(t *testing.T) {
	tests := []struct {
		name     string
		explicit map[string]bool
		start    clientconf.Config
		want     clientconf.Config
	}{
		{
			name:  "file fills everything",
			start: clientconf.Config{Brokers: []string{"127.0.0.1:9092"}, RegistryURL: "http://127.0.0.1:8081"},
			want: clientconf.Config{
				Brokers: []string{"kafka-1:9092", "kafka-2:9092"}, SecurityProtocol: "SASL_SSL",
				SASLMechanism: "SCRAM-SHA-512", SASLUsername: "turnstile", SASLPassword: "s3cret",
				SSLCALocation: "/etc/ssl/ca.pem", RegistryURL: "https://registry:8081",
				RegistryUsername: "reg", RegistryPassword: "pass",
			},
		},
		{
			name:     "explicit flags win",
			explicit: map[string]bool{"bootstrap.servers": true, "schema.registry.url": true},
			start:    clientconf.Config{Brokers: []string{"b:1"}, RegistryURL: "http://r:2"},
			want: clientconf.Config{
				Brokers: []string{"b:1"}, SecurityProtocol: "SASL_SSL",
				SASLMechanism: "SCRAM-SHA-512", SASLUsername: "turnstile", SASLPassword: "s3cret",
				SSLCALocation: "/etc/ssl/ca.pem", RegistryURL: "http://r:2",
				RegistryUsername: "reg", RegistryPassword: "pass",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.start
			unknown, err := c.LoadProperties("testdata/client.properties", tt.explicit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", c, tt.want)
			}
			if !reflect.DeepEqual(unknown, []string{"session.timeout.ms"}) {
				t.Fatalf("unknown keys: %v", unknown)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	for _, in := range []string{"no-separator", "=value"} {
		if _, err := clientconf.ParseProperties(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	got, err := clientconf.ParseProperties(strings.NewReader("! comment\n# comment\n\na: b\nc=d=e\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "b", "c": "d=e"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestValidate(t *testing.T) {
	base := clientconf.Config{Brokers: []string{"b:1"}}
	tests := []struct {
		name    string
		mutate  func(*clientconf.Config)
		wantErr string
	}{
		{"plaintext ok", func(*clientconf.Config) {}, ""},
		{"no brokers", func(c *clientconf.Config) { c.Brokers = nil }, "no brokers"},
		{"bad protocol", func(c *clientconf.Config) { c.SecurityProtocol = "HTTP" }, "security.protocol"},
		{"bad mechanism", func(c *clientconf.Config) {
			c.SecurityProtocol, c.SASLMechanism, c.SASLUsername = "SASL_PLAINTEXT", "GSSAPI", "u"
		}, "sasl.mechanism"},
		{"sasl without user", func(c *clientconf.Config) { c.SecurityProtocol = "SASL_SSL" }, "sasl.username"},
		{"lowercase accepted", func(c *clientconf.Config) {
			c.SecurityProtocol, c.SASLMechanism, c.SASLUsername = "sasl_plaintext", "scram-sha-256", "u"
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestStringRedactsSecrets(t *testing.T) {
	c := clientconf.Config{Brokers: []string{"b:1"}, SecurityProtocol: "SASL_SSL", SASLMechanism: "PLAIN",
		SASLUsername: "u", SASLPassword: "hunter2", RegistryURL: "http://r", RegistryUsername: "ru", RegistryPassword: "hunter3"}
	s := c.String()
	if strings.Contains(s, "hunter") {
		t.Fatalf("secret in %q", s)
	}
	if !strings.Contains(s, "user=u") {
		t.Fatalf("user missing from %q", s)
	}
	c.RegistryURL = "https://ru:hunter4@registry:8081/"
	if s := c.String(); strings.Contains(s, "hunter") || !strings.Contains(s, "registry:8081") {
		t.Fatalf("registry URL with user info shown as %q", s)
	}
}
