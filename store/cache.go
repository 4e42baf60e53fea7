package store

import (
	"bytes"
	"sync"
)

// cacheBudget bounds the memory of a recordCache, in bytes of stored
// records (a decoded record takes about as much again).
const cacheBudget = 32 << 20

// recordCache keeps decoded records next to the bytes they were decoded
// from. A lookup passes the bytes it has just read in its transaction and
// hits only when they are identical, so an entry may be out of date but is
// never served out of date, and writers have nothing to invalidate. It
// saves the JSON decode of the account in every API call's authentication.
// (Bins are not kept: the bin URL keeps what it serves itself, checked
// with Generation, and management reads are rare enough to decode.)
//
// Records come out of the cache shared: callers may change a record's
// fields but never write into its slices.
type recordCache[T any] struct {
	mu      sync.RWMutex
	budget  int
	size    int // len(raw) summed over entries
	entries map[string]cacheEntry[T]
}

type cacheEntry[T any] struct {
	raw []byte
	rec T
}

func newRecordCache[T any](budget int) *recordCache[T] {
	return &recordCache[T]{budget: budget, entries: map[string]cacheEntry[T]{}}
}

// decode returns the record stored as raw under key: from the cache when
// raw is exactly what it was decoded from, else decoded and remembered.
func (c *recordCache[T]) decode(key string, raw []byte) (T, error) {
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.rec, nil
	}
	var rec T
	if err := decode([]byte(key), raw, &rec); err != nil {
		return rec, err
	}
	if len(raw) > c.budget/64 {
		return rec, nil // too big to be worth the room
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok {
		c.size -= len(old.raw)
		delete(c.entries, key)
	}
	// Evict whatever map iteration yields first: close enough to random.
	for k, old := range c.entries {
		if c.size+len(raw) <= c.budget {
			break
		}
		c.size -= len(old.raw)
		delete(c.entries, k)
	}
	c.entries[key] = cacheEntry[T]{raw: bytes.Clone(raw), rec: rec}
	c.size += len(raw)
	return rec, nil
}
