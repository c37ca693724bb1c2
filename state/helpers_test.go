package state_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/turnstile-streams/turnstile/internal/testenv"
)

func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t) }

func removeAll(dir string) error { return os.RemoveAll(dir) }
