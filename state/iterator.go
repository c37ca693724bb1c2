package state

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/lovoo/goka/storage"
)

// iterator is a storage.Iterator over a Pebble snapshot of the data range.
// Like goka's iterators it is for one goroutine, but Store.Close may release
// it from another, so its state is behind a mutex.
type iterator struct {
	s *Store

	mu      sync.Mutex
	it      *pebble.Iterator // nil once released (or for an empty range)
	started bool             // positioned by Next or Seek
	valid   bool
	err     error
}

var _ storage.Iterator = (*iterator)(nil)

func (s *Store) newIterator(lower, upper []byte) (storage.Iterator, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if err := s.flushForRead(); err != nil {
		return nil, err
	}
	if bytes.Compare(lower, upper) >= 0 {
		return &iterator{s: s, started: true}, nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		s.noteErr(err)
		return nil, fmt.Errorf("state: iterator on %s: %w", s.dir, err)
	}
	i := &iterator{s: s, it: it}
	s.iterMu.Lock()
	s.iters[i] = struct{}{}
	s.iterMu.Unlock()
	return i, nil
}

// Next moves to the first pair on the first call, then to the next one.
func (i *iterator) Next() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		i.valid = false
		return false
	}
	switch {
	case !i.started:
		i.started = true
		i.valid = i.it.First()
	case i.valid:
		i.valid = i.it.Next()
	}
	return i.valid
}

// Err returns the error that stopped the iteration, if any.
func (i *iterator) Err() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.err != nil {
		return i.err
	}
	if i.it != nil {
		if err := i.it.Error(); err != nil {
			i.s.noteErr(err)
			return fmt.Errorf("state: iterate %s: %w", i.s.dir, err)
		}
	}
	return nil
}

// Key returns the current key (valid until the iterator moves), or nil.
func (i *iterator) Key() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.valid || i.it == nil {
		return nil
	}
	return i.it.Key()[1:]
}

// Value returns the current value (valid until the iterator moves), or nil.
func (i *iterator) Value() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.valid || i.it == nil {
		return nil, nil
	}
	v, err := i.it.ValueAndErr()
	if err != nil {
		i.s.noteErr(err)
		return nil, fmt.Errorf("state: value in %s: %w", i.s.dir, err)
	}
	return v, nil
}

// Seek positions the iterator at the first key >= key within its range and
// reports whether there is one; Key and Value then return it (as with goka's
// LevelDB storage: calling Next right after skips it).
func (i *iterator) Seek(key []byte) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.it == nil {
		return false
	}
	i.started = true
	i.valid = i.it.SeekGE(append([]byte{dataPrefix}, key...))
	return i.valid
}

// Release frees the iterator; it is exhausted afterwards. Safe to call more
// than once.
func (i *iterator) Release() {
	i.release(nil)
}

func (i *iterator) release(reason error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.valid = false
	if i.it == nil {
		return
	}
	if err := i.it.Close(); err != nil && i.err == nil {
		i.err = fmt.Errorf("state: iterate %s: %w", i.s.dir, err)
	}
	if reason != nil && i.err == nil {
		i.err = reason
	}
	i.it = nil
	i.s.iterMu.Lock()
	delete(i.s.iters, i)
	i.s.iterMu.Unlock()
}
