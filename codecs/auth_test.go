package codecs_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/codecs"
	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/schemas"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestRegistryRefusesCredentials: an encoder whose registry refuses its
// credentials fails with ErrRegistryAuth, not a retryable "unavailable"
// (a producer must say what is wrong, not wait), whether the registry
// answers in Confluent's JSON or a proxy answers with a bare status; the
// password never shows in the error. A decoder meeting a never-seen id
// still treats the refusal as retryable: a record is never dead-lettered
// because of the registry.
func TestRegistryRefusesCredentials(t *testing.T) {
	const secret = "Wrong-Pw-91c3"
	b := testenv.Broker(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg, err := registry.Start(ctx, registry.Config{Addr: "127.0.0.1:0", KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())},
		Username: "pipeline", Password: "right", Logger: testenv.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(context.Background())
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>denied</html>", http.StatusForbidden)
	}))
	defer proxy.Close()

	subject := schemas.Subject(schemas.DefaultInputTopic)
	for name, url := range map[string]string{"registry": reg.URL(), "proxy": proxy.URL} {
		t.Run(name, func(t *testing.T) {
			cl := srclient.NewSchemaRegistryClient(url)
			cl.SetCredentials("pipeline", secret)
			c, err := codecs.NewReadingCodec(codecs.ReadingConfig{Config: codecs.Config{Client: cl, Subject: subject}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Prepare(ctx)
			if !errors.Is(err, codecs.ErrRegistryAuth) || codecs.IsRetryable(err) {
				t.Fatalf("encoder: %v", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("password in %v", err)
			}
			_, err = c.Decode(append(codecs.AppendHeader(nil, 1), 0))
			if !codecs.IsRetryable(err) {
				t.Fatalf("decoder: %v", err)
			}
		})
	}
}
