package codecs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/riferrei/srclient"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestErrorMessagesNameThePackage: every error the package returns starts
// with "codecs: " once, whether it is a sentinel or wraps one.
func TestErrorMessagesNameThePackage(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "denied", http.StatusUnauthorized)
	}))
	defer refusing.Close()
	b := testenv.Broker(t, "")
	url := testenv.Registry(t, b.Addr()).URL()
	prepare := func(cfg codecs.ReadingConfig) error {
		c, err := codecs.NewReadingCodec(cfg)
		if err != nil {
			return err
		}
		_, err = c.Prepare(context.Background())
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want string // the message's start
	}{
		{"ErrRegistryUnavailable", codecs.ErrRegistryUnavailable, "codecs: schema registry unavailable"},
		{"ErrRegistryAuth", codecs.ErrRegistryAuth, "codecs: the schema registry refused the credentials"},
		{"ErrNotRegistered", codecs.ErrNotRegistered, "codecs: the writer schema is not registered under the subject"},
		{"refused credentials", prepare(codecs.ReadingConfig{Config: codecs.Config{Client: srclient.NewSchemaRegistryClient(refusing.URL), Subject: "s-value"}}),
			"codecs: the schema registry refused the credentials: look up writer schema under s-value: 401 "},
		{"not registered", prepare(codecs.ReadingConfig{Config: codecs.Config{RegistryURL: url, Subject: "nothing-here-value", LookupOnly: true}}),
			"codecs: the writer schema is not registered under the subject nothing-here-value"},
		{"no subject", prepare(codecs.ReadingConfig{Config: codecs.Config{RegistryURL: url}}), "codecs: Config.Subject is required"},
		{"no registry", prepare(codecs.ReadingConfig{Config: codecs.Config{Subject: "s-value"}}), "codecs: Config.RegistryURL or Config.Client is required"},
		{"no such writer version", prepare(codecs.ReadingConfig{Config: codecs.Config{RegistryURL: url, Subject: "s-value"}, WriterVersion: 3}),
			"codecs: ReadingConfig.WriterVersion 3 is not a TurnstileReading version [1 2]"},
		{"window codec without a subject", func() error {
			_, err := codecs.NewStationWindowCodec(codecs.Config{RegistryURL: url})
			return err
		}(), "codecs: Config.Subject is required"},
		{"reject", func() error {
			c, err := codecs.NewDeviceWindowCodec(codecs.Config{RegistryURL: url, Subject: schemas.Subject(schemas.DefaultDeviceWindowsTopic)})
			if err != nil {
				return err
			}
			_, err = c.Unmarshal([]byte{1, 2})
			return err
		}(), "codecs: reject (magic-byte)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil {
				t.Fatal("no error")
			}
			msg := tc.err.Error()
			if !strings.HasPrefix(msg, tc.want) || strings.Count(msg, "codecs: ") != 1 {
				t.Fatalf("%q, want it to start with %q and name the package once", msg, tc.want)
			}
		})
	}
}
