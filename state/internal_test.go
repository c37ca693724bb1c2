package state

import (
	"errors"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/internal/testenv"
)

// TestPebbleFatalPoisonsStore: Pebble's Fatalf (which by default exits the
// process) makes the store refuse further use and rebuild on next open.
func TestPebbleFatalPoisonsStore(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store { return openTestStore(t, Options{Dir: dir, Logger: testenv.Logger(t)}) }
	st := open()
	if err := st.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	pebbleLogger{log: st.log, fatal: st.fail}.Fatalf("MANIFEST sync failed: %s", "disk on fire")
	if err := st.Set("k2", []byte("v")); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("set on a poisoned store: %v", err)
	}
	if _, err := st.Get("k"); err == nil {
		t.Fatal("get on a poisoned store succeeded")
	}
	_ = st.Close()
	st = open()
	defer st.Close()
	if r := st.Stats().Rebuilt; !strings.Contains(r, "disk on fire") {
		t.Fatalf("not rebuilt after a fatal error: %q", r)
	}
	if v, err := st.Get("k"); err != nil || v != nil {
		t.Fatalf("rebuilt store kept k: %q, %v", v, err)
	}
}
