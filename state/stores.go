package state

import (
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/lovoo/goka/storage"
)

// Stores opens the partitions of one state directory and shares a block
// cache between them. Its Build method is a goka storage.Builder.
type Stores struct {
	opts Options

	mu    sync.Mutex
	cache *pebble.Cache // non-nil while any store is open
	open  map[*Store]struct{}
}

// New validates opts and returns the stores of opts.Dir. Nothing is opened
// until goka builds and opens a partition.
func New(opts Options) (*Stores, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.Defaults()
	return &Stores{opts: opts, open: make(map[*Store]struct{})}, nil
}

// Builder returns a goka storage.Builder over New(opts), for
// goka.WithStorageBuilder. Invalid options make every build fail.
func Builder(opts Options) storage.Builder {
	s, err := New(opts)
	if err != nil {
		return func(string, int32) (storage.Storage, error) { return nil, err }
	}
	return s.Build
}

// Build returns the (unopened) store of a table partition, in
// <Dir>/<topic>.<partition>. It implements storage.Builder; goka calls Open
// right after.
func (s *Stores) Build(topic string, partition int32) (storage.Storage, error) {
	return s.Store(topic, partition)
}

// Store is Build with the concrete type.
func (s *Stores) Store(topic string, partition int32) (*Store, error) {
	if topic == "" || filepath.Base(topic) != topic || topic == "." || topic == ".." {
		return nil, fmt.Errorf("state: topic %q cannot name a directory", topic)
	}
	if partition < 0 {
		return nil, fmt.Errorf("state: negative partition %d", partition)
	}
	dir := filepath.Join(s.opts.Dir, fmt.Sprintf("%s.%d", topic, partition))
	return newStore(s, topic, partition, dir), nil
}

// Stats returns the statistics of the open partitions, sorted by topic and
// partition.
func (s *Stores) Stats() []PartitionStats {
	s.mu.Lock()
	open := make([]*Store, 0, len(s.open))
	for st := range s.open {
		open = append(open, st)
	}
	s.mu.Unlock()
	out := make([]PartitionStats, 0, len(open))
	for _, st := range open {
		out = append(out, st.Stats())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// acquire registers an opening store and returns the shared cache, created
// on first use.
func (s *Stores) acquire(st *Store) *pebble.Cache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = pebble.NewCache(s.opts.CacheSize)
	}
	s.open[st] = struct{}{}
	return s.cache
}

// release unregisters a store after its DB was closed (or failed to open),
// dropping our cache reference with the last one so that the cache's memory
// is freed.
func (s *Stores) release(st *Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.open[st]; !ok {
		return
	}
	delete(s.open, st)
	if len(s.open) == 0 && s.cache != nil {
		s.cache.Unref()
		s.cache = nil
	}
}
