package state

import "testing"

// openTestStore opens the store of partition 0 of topic "t" from a fresh
// Stores with opts (a closed Store cannot be opened again), recovering
// until MarkRecovered.
func openTestStore(t testing.TB, opts Options) *Store {
	t.Helper()
	ss, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ss.Store("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	return st
}
