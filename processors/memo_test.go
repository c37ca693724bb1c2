package processors

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lovoo/goka"

	"github.com/turnstile-streams/turnstile/windows"
)

// TestMemoBounded: the memo returns what was put last for a key, forgets
// deleted keys, and never holds more than memoKeys values, evicting other
// keys (never the one being written) when full.
func TestMemoBounded(t *testing.T) {
	var m memo
	if _, ok := m.get("a"); ok {
		t.Fatal("an empty memo has a value")
	}
	a1, a2 := &windows.Device{Division: "1"}, &windows.Device{Division: "2"}
	m.put("a", a1)
	m.put("a", a2)
	if v, ok := m.get("a"); !ok || v != a2 {
		t.Fatalf("get = %v, %v; want the last put", v, ok)
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

// doneCtx is a goka callback context whose partition is stopping: goka's
// Fail no longer panics, so a failed read returns nil and a write "works".
type doneCtx struct {
	gokaContext // nil: any other method panics
	ctx         context.Context
	writes      int
}

type gokaContext = goka.Context

func (c *doneCtx) Context() context.Context { return c.ctx }
func (c *doneCtx) Key() string              { return "k" }
func (c *doneCtx) Value() any               { return nil }
func (c *doneCtx) SetValue(any, ...goka.ContextOption) {
	c.writes++
}

// TestStoppingPartitionNeverReadsNilOrWrites: once the
// partition's context is done, reading a key whose storage read failed and
// writing a key both end the callback instead of treating the key as new
// and letting goka commit the input.
func TestStoppingPartitionNeverReadsNilOrWrites(t *testing.T) {
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, fn := range map[string]func(ctx *doneCtx, c *partClock){
		"value": func(ctx *doneCtx, c *partClock) { value(ctx, c) },
		"set":   func(ctx *doneCtx, c *partClock) { setValue(ctx, c, &windows.Device{}) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := &doneCtx{ctx: cctx}
			defer func() {
				r := recover()
				err, _ := r.(error)
				if !errors.Is(err, errStopping) {
					t.Fatalf("recovered %v, want errStopping", r)
				}
				if ctx.writes != 0 {
					t.Fatalf("%d writes on a stopping partition", ctx.writes)
				}
			}()
			fn(ctx, newPartClock(1))
		})
	}
}
