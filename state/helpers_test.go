package state_test

import (
	"log/slog"
	"testing"

	"github.com/turnstile-streams/turnstile/internal/testenv"
)

func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t) }
