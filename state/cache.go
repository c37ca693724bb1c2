package state

import "sync"

// valueCache keeps recently written and read values of one store in
// memory, so the read-modify-write of a processing callback (goka reads a
// key's value, the callback sets it) does not seek Pebble's memtables and
// level files for a value it wrote moments ago. The profile of the whole
// pipeline showed those reads (memtable skiplist seeks under constant
// overwrites of the same keys) at about a fifth of its CPU time.
//
// Writes go to Pebble first and then to the cache, under the store's write
// lock; a read that misses fills the cache only if no write happened while
// it read Pebble (gen), so a concurrent reader never caches a stale value.
// When the cache exceeds its budget, arbitrary entries are dropped until it
// is at three quarters of it.
type valueCache struct {
	mu     sync.Mutex
	max    int64
	size   int64
	gen    uint64
	values map[string][]byte
}

// entryOverhead approximates a map entry's memory beyond key and value.
const entryOverhead = 64

func newValueCache(max int64) *valueCache {
	if max <= 0 {
		return nil
	}
	return &valueCache{max: max, values: map[string][]byte{}}
}

// get returns a copy of the cached value and true, or the current
// generation to pass to fill after reading Pebble.
func (c *valueCache) get(key string) ([]byte, uint64, bool) {
	if c == nil {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.values[key]
	if !ok {
		return nil, c.gen, false
	}
	out := make([]byte, len(v))
	copy(out, v)
	return out, c.gen, true
}

// fill caches a value read from Pebble unless a write happened since get
// returned gen. It keeps v (the caller's copy must not be modified; Get
// returns its own copy).
func (c *valueCache) fill(key string, v []byte, gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.put(key, v)
	}
}

// set caches a written value (copied) and invalidates concurrent fills.
func (c *valueCache) set(key string, v []byte) {
	if c == nil {
		return
	}
	c.setOwned(key, append(make([]byte, 0, len(v)), v...))
}

// setOwned is set for a value the cache may keep as it is: nobody modifies
// it afterwards (the write buffer shares it).
func (c *valueCache) setOwned(key string, v []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.put(key, v)
}

// del forgets a key (deleted, or written where the cache does not follow,
// like a recovery batch) and invalidates concurrent fills.
func (c *valueCache) del(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if old, ok := c.values[key]; ok {
		c.size -= int64(len(key) + len(old) + entryOverhead)
		delete(c.values, key)
	}
}

// reset empties the cache.
func (c *valueCache) reset() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.values, c.size = map[string][]byte{}, 0
}

// put stores v; callers hold mu.
func (c *valueCache) put(key string, v []byte) {
	n := int64(len(key) + len(v) + entryOverhead)
	if n > c.max/4 {
		// Too big to be worth it; make sure no older value stays.
		if old, ok := c.values[key]; ok {
			c.size -= int64(len(key) + len(old) + entryOverhead)
			delete(c.values, key)
		}
		return
	}
	if old, ok := c.values[key]; ok {
		c.size -= int64(len(key) + len(old) + entryOverhead)
	}
	c.values[key] = v
	c.size += n
	if c.size > c.max {
		for k, old := range c.values {
			c.size -= int64(len(k) + len(old) + entryOverhead)
			delete(c.values, k)
			if c.size <= c.max*3/4 {
				break
			}
		}
	}
}
