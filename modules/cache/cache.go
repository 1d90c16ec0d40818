// Package cache keeps the newest orders in memory: at most Capacity records
// and at most MaxBytes of their JSON, ordered by date_created then uid. It
// does no I/O.
package cache

import (
	"sync"

	"github.com/google/btree"

	"github.com/marketplace/orders/modules/order"
)

// Cache is a bounded newest-N set of records, safe for concurrent use.
// Records are values: Get hands out a copy taken under the lock, so an
// eviction that happens after it cannot change what a reader holds.
type Cache struct {
	mu       sync.RWMutex
	capacity int
	maxBytes int // most JSON bytes held; 0 means no bound but the count
	bytes    int // JSON bytes held
	byUID    map[string]order.Record
	// byAge orders the held records oldest first, so the record to evict and
	// the newest n are both at an end of the tree.
	byAge *btree.BTreeG[slot]
}

// slot is a record's place in newest-first order.
type slot struct {
	order.Key
}

// older is the tree's order: the reverse of order.Record.Newer.
func older(a, b slot) bool {
	if !a.DateCreated.Equal(b.DateCreated) {
		return a.DateCreated.Before(b.DateCreated)
	}
	return a.UID < b.UID
}

func slotOf(r order.Record) slot { return slot{order.Key{DateCreated: r.DateCreated, UID: r.UID}} }

// New returns a cache holding at most capacity records; 0 disables it.
func New(capacity int) *Cache { return NewBounded(capacity, 0) }

// NewBounded returns a cache holding at most capacity records and at most
// maxBytes of their JSON (0: no bound but the count), the newest that fit.
func NewBounded(capacity, maxBytes int) *Cache {
	capacity = max(capacity, 0)
	return &Cache{
		capacity: capacity,
		maxBytes: max(maxBytes, 0),
		byUID:    make(map[string]order.Record, capacity),
		byAge:    btree.NewG(32, older),
	}
}

// Put adds r if it is among the newest records that fit and reports whether
// the cache holds it afterwards. A record older than everything in a full
// cache is refused rather than displacing a newer one; when the JSON bytes go
// over MaxBytes, the oldest records leave until they fit (r itself, if it is
// the oldest, or larger than the bound alone).
func (c *Cache) Put(r order.Record) bool {
	if c.capacity == 0 || c.maxBytes > 0 && len(r.JSON) > c.maxBytes {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.byUID[r.UID]; ok {
		c.remove(old)
	} else if len(c.byUID) >= c.capacity {
		oldest, _ := c.byAge.Min()
		if !older(oldest, slotOf(r)) {
			return false
		}
		c.remove(c.byUID[oldest.UID])
	}
	c.byAge.ReplaceOrInsert(slotOf(r))
	c.byUID[r.UID] = r
	c.bytes += len(r.JSON)
	for c.maxBytes > 0 && c.bytes > c.maxBytes {
		oldest, _ := c.byAge.Min()
		c.remove(c.byUID[oldest.UID])
	}
	_, held := c.byUID[r.UID]
	return held
}

// remove drops a held record.
func (c *Cache) remove(r order.Record) {
	c.byAge.Delete(slotOf(r))
	delete(c.byUID, r.UID)
	c.bytes -= len(r.JSON)
}

// Admits reports whether Put would take a record with key k that the cache
// does not hold yet: false when k's uid is held already, or when the cache is
// full and k is not newer than the oldest record it holds. A follower asks
// before it reads an order another instance stored, so orders that would not
// be kept cost no read.
func (c *Cache) Admits(k order.Key) bool {
	if c.capacity == 0 {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if _, ok := c.byUID[k.UID]; ok {
		return false
	}
	if len(c.byUID) < c.capacity {
		return true
	}
	oldest, _ := c.byAge.Min()
	return older(oldest, slot{k})
}

// Get returns the record under uid.
func (c *Cache) Get(uid string) (order.Record, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.byUID[uid]
	return r, ok
}

// Newest returns up to n records, newest first.
func (c *Cache) Newest(n int) []order.Record {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]order.Record, 0, min(n, len(c.byUID)))
	c.byAge.Descend(func(s slot) bool {
		if len(out) >= n {
			return false
		}
		out = append(out, c.byUID[s.UID])
		return true
	})
	return out
}

// Bytes is how many bytes of JSON the cache holds.
func (c *Cache) Bytes() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bytes
}

// Len is how many records the cache holds.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byUID)
}

// Capacity is the most records the cache holds.
func (c *Cache) Capacity() int { return c.capacity }
