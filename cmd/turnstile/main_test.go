package main

import (
	"os"
	"testing"
)

// runMainEnv makes the test binary run the turnstile command line instead
// of the tests, so a test can start the real program in a terminal (see
// TestDevOnATerminal) without building it.
const runMainEnv = "TURNSTILE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
