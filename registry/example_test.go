package registry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/turnstile-streams/turnstile/broker"
	"github.com/turnstile-streams/turnstile/registry"
)

// Example starts a registry on an embedded broker and registers a schema
// with franz-go's client; any Confluent client works the same way.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	reg, err := registry.Start(ctx, registry.Config{
		Addr:      "127.0.0.1:0", // any free port; see reg.URL()
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(ctx)

	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		fmt.Println(err)
		return
	}
	ss, err := cl.CreateSchema(ctx, "users-value", sr.Schema{
		Schema: `{"type":"record","name":"User","fields":[{"name":"id","type":"long"}]}`,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ss.Subject, "version", ss.Version, "id", ss.ID)
	// Output: users-value version 1 id 1
}

// ExampleServer_Handler mounts the API under a prefix of another server.
func ExampleServer_Handler() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	reg, err := registry.Start(ctx, registry.Config{
		Addr:      "127.0.0.1:0",
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers(b.Addr())},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close(ctx)

	mux := http.NewServeMux()
	mux.Handle("/registry/", http.StripPrefix("/registry", reg.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/registry/schemas/types")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 ["AVRO"]
}
