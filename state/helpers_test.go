package state_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
)

func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t) }

func removeAll(dir string) error { return os.RemoveAll(dir) }

func newAdmin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}
