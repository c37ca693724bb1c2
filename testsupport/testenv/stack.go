package testenv

import (
	"bytes"
	"sync"
	"testing"

	"github.com/riferrei/srclient"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/schemas"
)

// Stack starts an in-memory broker and a registry for the test and returns
// the broker addresses, a registry client, and a Kafka client that
// partitions keys as goka does (schemas.Partitioner), so records a test
// produces land where the pipeline's processors look for them.
func Stack(t testing.TB) (brokers []string, sr srclient.ISchemaRegistryClient, cl *kgo.Client) {
	t.Helper()
	b := Broker(t, "")
	r := Registry(t, b.Addr())
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(schemas.Partitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return []string{b.Addr()}, srclient.CreateSchemaRegistryClient(r.URL()), cl
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes (loggers of a
// command or server under test) and the test's reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
