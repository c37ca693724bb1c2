package processors

import (
	"fmt"
	"testing"
)

// TestMemoBounded: the memo returns what was put last for a key, forgets
// deleted keys, and never holds more than memoKeys values, evicting other
// keys (never the one being written) when full.
func TestMemoBounded(t *testing.T) {
	var m memo
	if _, ok := m.get("a"); ok {
		t.Fatal("an empty memo has a value")
	}
	a1, a2 := &DeviceState{Station: "1"}, &DeviceState{Station: "2"}
	m.put("a", a1)
	m.put("a", a2)
	if v, ok := m.get("a"); !ok || v != a2 {
		t.Fatalf("get = %v, %v; want the last put", v, ok)
	}
	m.del("a")
	if _, ok := m.get("a"); ok {
		t.Fatal("a deleted key is still memoized")
	}
	for i := range memoKeys + 100 {
		k := fmt.Sprint(i)
		m.put(k, i)
		if v, ok := m.get(k); !ok || v != i {
			t.Fatalf("key %s just put: %v, %v", k, v, ok)
		}
		if len(m.values) > memoKeys {
			t.Fatalf("%d values, bound %d", len(m.values), memoKeys)
		}
	}
	// Rewriting a present key in a full memo evicts nothing.
	m.put("5000", "again")
	if len(m.values) != memoKeys {
		t.Fatalf("%d values after rewriting a key, want %d", len(m.values), memoKeys)
	}
}
