package processors

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestAckQueue: deferred commits are released only once every write made
// before them is acknowledged, in order, and an error fails every commit
// still waiting and every later one.
func TestAckQueue(t *testing.T) {
	boom := errors.New("boom")
	type op struct {
		write   int    // writes to make
		release string // a batch of commits to release (its name)
		ack     int64  // a write's sequence number to acknowledge
		err     error  // with this error
	}
	for _, tc := range []struct {
		name string
		ops  []op
		want []string // released batches, in order, with their error
	}{
		{"nothing written releases at once", []op{{release: "a"}}, []string{"a:<nil>"}},
		{"waits for its writes", []op{{write: 2}, {release: "a"}, {ack: 1}}, nil},
		{"released by the last ack", []op{{write: 2}, {release: "a"}, {ack: 1}, {ack: 2}}, []string{"a:<nil>"}},
		{"in order", []op{{write: 1}, {release: "a"}, {write: 1}, {release: "b"}, {ack: 1}, {ack: 2}}, []string{"a:<nil>", "b:<nil>"}},
		{"later writes do not hold an earlier batch", []op{{write: 1}, {release: "a"}, {write: 3}, {ack: 1}}, []string{"a:<nil>"}},
		{"after every ack", []op{{write: 1}, {ack: 1}, {release: "a"}}, []string{"a:<nil>"}},
		{"an error fails what waits", []op{{write: 2}, {release: "a"}, {ack: 1, err: boom}}, []string{"a:boom"}},
		{"and what comes later", []op{{write: 1}, {ack: 1, err: boom}, {release: "a"}, {write: 1}, {release: "b"}}, []string{"a:boom", "b:boom"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q ackQueue
			var got []string
			for _, o := range tc.ops {
				for range o.write {
					q.produced()
				}
				if o.release != "" {
					name := o.release
					q.release([]func(error){func(err error) { got = append(got, fmt.Sprintf("%s:%v", name, err)) }})
				}
				if o.ack > 0 {
					q.ack(o.ack, o.err)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("released %q, want %q", got, tc.want)
			}
		})
	}
}
