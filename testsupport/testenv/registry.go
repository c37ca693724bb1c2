package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/registry"
)

// Registry starts a schema registry on 127.0.0.1:0 backed by the broker at
// brokerAddr (its "_schemas" topic is created if missing) and closes it
// when the test ends. Its base URL is Server.URL().
func Registry(t testing.TB, brokerAddr string) *registry.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := registry.Start(ctx, registry.Config{
		Addr:      "127.0.0.1:0",
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers(brokerAddr)},
		Logger:    Logger(t),
	})
	if err != nil {
		t.Fatalf("testenv: start registry: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("testenv: close registry: %v", err)
		}
	})
	return s
}
