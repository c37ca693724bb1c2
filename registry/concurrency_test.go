package registry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/registry"
	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

// TestConcurrentWrites registers from many goroutines at once: distinct
// schemas get distinct ids, the same schema one id, and each subject
// gapless versions.
func TestConcurrentWrites(t *testing.T) {
	reg := newRegistry(t)
	base := reg.URL()
	const workers, each = 8, 6
	var mu sync.Mutex
	ids := map[string]int{} // schema -> id
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Every worker registers the shared schema, its own
				// evolving schema, and runs a compatibility check.
				own := fmt.Sprintf(`{"type":"record","name":"W%d","fields":[{"name":"f%d","type":"int","default":0}]}`, w, i)
				shared := fmt.Sprintf(`{"type":"record","name":"Shared","fields":[{"name":"n%d","type":"int","default":0}]}`, i)
				for _, tc := range []struct{ subject, schema string }{
					{fmt.Sprintf("own-%d", w), own},
					{fmt.Sprintf("shared-%d", i), shared},
				} {
					r, err := post(base+"/subjects/"+tc.subject+"/versions", schemaBody(tc.schema))
					if err != nil {
						errs <- err
						continue
					}
					var id int
					if _, err := fmt.Sscanf(r, `{"id":%d}`, &id); err != nil {
						errs <- fmt.Errorf("register %s: %s", tc.subject, r)
						continue
					}
					mu.Lock()
					if prev, ok := ids[tc.schema]; ok && prev != id {
						errs <- fmt.Errorf("schema got ids %d and %d", prev, id)
					}
					ids[tc.schema] = id
					mu.Unlock()
				}
				if _, err := post(base+"/compatibility/subjects/own-0/versions?verbose=true", schemaBody(own)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[int]string{}
	for schema, id := range ids {
		if other, dup := seen[id]; dup {
			t.Fatalf("id %d given to two schemas:\n%s\n%s", id, schema, other)
		}
		seen[id] = schema
	}
	if len(ids) != workers*each+each {
		t.Fatalf("%d distinct schemas registered, want %d", len(ids), workers*each+each)
	}
	for w := range workers {
		r := call(t, "GET", fmt.Sprintf("%s/subjects/own-%d/versions", base, w), "")
		if want := "[1,2,3,4,5,6]"; string(r.body) != want {
			t.Fatalf("own-%d versions = %s, want %s", w, r.body, want)
		}
	}
	for i := range each {
		r := call(t, "GET", fmt.Sprintf("%s/subjects/shared-%d/versions", base, i), "")
		if string(r.body) != "[1]" {
			t.Fatalf("shared-%d versions = %s, want [1]", i, r.body)
		}
	}
}

func post(url, body string) (string, error) {
	resp, err := http.Post(url, "application/vnd.schemaregistry.v1+json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b), nil
}

// TestStartFailsWithoutKafka checks that Start gives up when its context
// ends, with a registry error, instead of hanging.
func TestStartFailsWithoutKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err := registry.Start(ctx, registry.Config{
		Addr:      "127.0.0.1:0",
		KafkaOpts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")},
	})
	if err == nil || !strings.HasPrefix(err.Error(), "registry: ") {
		t.Fatalf("Start without Kafka: %v", err)
	}
	t.Logf("Start without Kafka: %v", err)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Start took %v to fail", d)
	}
}

// TestKafkaDown checks that reads keep working from memory when Kafka goes
// away, and that a write that could not be stored changes nothing.
func TestKafkaDown(t *testing.T) {
	b := testenv.Broker(t, "")
	reg := testenv.Registry(t, b.Addr())
	base := reg.URL()
	id := register(t, base, "s", orderV1)
	b.Close()

	cl := &http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Post(base+"/subjects/t/versions", "application/json", strings.NewReader(schemaBody(record(fA))))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("register with Kafka down: %d %s", resp.StatusCode, body)
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("register with Kafka down succeeded")
		}
	} else {
		t.Logf("register with Kafka down: %v", err)
	}
	if r := call(t, "GET", base+"/subjects/s/versions", ""); r.status != http.StatusOK || string(r.body) != "[1]" {
		t.Fatalf("versions with Kafka down: %d %s", r.status, r.body)
	}
	// Re-registering a known schema is answered from memory, even with a
	// write still pending.
	if got := register(t, base, "s", orderV1); got != id {
		t.Fatalf("re-register with Kafka down: id %d, want %d", got, id)
	}
	if r := call(t, "GET", base+"/subjects/t/versions", ""); r.errorCode(t) != 40401 {
		t.Fatalf("subject of the failed write: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", base, id), ""); r.status != http.StatusOK {
		t.Fatalf("schema by id with Kafka down: %d %s", r.status, r.body)
	}
}
