package state_test

import (
	"testing"

	"github.com/turnstile-streams/turnstile/state"
)

// tryOpenStore opens partition p of topic's store from a fresh Stores with
// opts (a closed Store cannot be opened again).
func tryOpenStore(opts state.Options, topic string, p int32) (*state.Store, error) {
	ss, err := state.New(opts)
	if err != nil {
		return nil, err
	}
	st, err := ss.Store(topic, p)
	if err != nil {
		return nil, err
	}
	if err := st.Open(); err != nil {
		return nil, err
	}
	return st, nil
}

// openStore is tryOpenStore failing the test on error.
func openStore(t testing.TB, opts state.Options, topic string, p int32) *state.Store {
	t.Helper()
	st, err := tryOpenStore(opts, topic, p)
	if err != nil {
		t.Fatalf("open %s/%d in %s: %v", topic, p, opts.Dir, err)
	}
	return st
}
