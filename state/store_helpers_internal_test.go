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

// scan iterates every table key of st.
func scan(t testing.TB, st *Store) map[string]string {
	t.Helper()
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	defer it.Release()
	got := map[string]string{}
	for it.Next() {
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		got[string(it.Key())] = string(v)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}
