// Package cache keeps the newest orders in memory: at most Capacity records,
// ordered by date_created then uid. It does no I/O.
package cache

import (
	"container/heap"
	"sync"

	"github.com/marketplace/orders/modules/order"
)

// Cache is a bounded newest-N set of records, safe for concurrent use. A min-heap
// keeps the oldest record on top, so both "evict the oldest" and "is this
// older than everything held" cost O(log n) and O(1).
type Cache struct {
	mu       sync.RWMutex
	capacity int
	byUID    map[string]*entry
	oldest   minHeap
}

type entry struct {
	rec   order.Record
	index int
}

// New returns a cache holding at most capacity records; 0 disables it.
func New(capacity int) *Cache {
	if capacity < 0 {
		capacity = 0
	}
	return &Cache{capacity: capacity, byUID: make(map[string]*entry, capacity)}
}

// Put adds r if it is among the newest Capacity records and reports whether the
// cache holds it afterwards. A record older than everything in a full cache is
// refused rather than displacing a newer one.
func (c *Cache) Put(r order.Record) bool {
	if c.capacity == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byUID[r.UID]; ok {
		e.rec = r
		heap.Fix(&c.oldest, e.index)
		return true
	}
	if len(c.oldest) < c.capacity {
		e := &entry{rec: r}
		c.byUID[r.UID] = e
		heap.Push(&c.oldest, e)
		return true
	}
	top := c.oldest[0]
	if !r.Newer(top.rec) {
		return false
	}
	delete(c.byUID, top.rec.UID)
	top.rec = r
	c.byUID[r.UID] = top
	heap.Fix(&c.oldest, 0)
	return true
}

// Get returns the record under uid.
func (c *Cache) Get(uid string) (order.Record, bool) {
	c.mu.RLock()
	e, ok := c.byUID[uid]
	c.mu.RUnlock()
	if !ok {
		return order.Record{}, false
	}
	return e.rec, true
}

// Len is how many records the cache holds.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.oldest)
}

// Capacity is the most records the cache holds.
func (c *Cache) Capacity() int { return c.capacity }

// minHeap orders entries oldest first (the reverse of order.Record.Newer).
type minHeap []*entry

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[j].rec.Newer(h[i].rec) }
func (h minHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *minHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *minHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
