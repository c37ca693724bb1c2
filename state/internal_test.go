package state

import (
	"errors"
	"strings"
	"testing"

	"github.com/turnstile-streams/turnstile/testsupport/testenv"
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

// TestCleanCloseNeedsEveryAck: a store closed with a processing write the
// changelog never acknowledged is rebuilt on the next open; the one write
// of slack (goka acknowledges a record at changelog offset 0 without
// SetOffset) applies only to a store that recovered nothing.
func TestCleanCloseNeedsEveryAck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		recovered bool // the store recovered changelog records first
		acked     bool // the processing write was acknowledged
		rebuilt   bool
	}{
		{"acknowledged", true, true, false},
		{"unacknowledged after recovery", true, false, true},
		{"first write of an empty changelog (offset 0)", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			open := func() *Store { return openTestStore(t, Options{Dir: dir, Logger: testenv.Logger(t)}) }
			st := open()
			if tc.recovered {
				if err := st.Set("a", []byte("1")); err != nil {
					t.Fatal(err)
				}
				if err := st.SetOffset(4); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.MarkRecovered(); err != nil {
				t.Fatal(err)
			}
			if err := st.Set("b", []byte("2")); err != nil {
				t.Fatal(err)
			}
			if tc.acked {
				if err := st.SetOffset(5); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = open()
			defer st.Close()
			if got := st.Stats().Rebuilt != ""; got != tc.rebuilt {
				t.Fatalf("rebuilt = %v (%q), want %v", got, st.Stats().Rebuilt, tc.rebuilt)
			}
		})
	}
}
