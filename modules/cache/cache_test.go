package cache

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/order"
)

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func rec(uid string, minutes int) order.Record {
	return order.Record{UID: uid, DateCreated: base.Add(time.Duration(minutes) * time.Minute), JSON: []byte(`{"order_uid":"` + uid + `"}`)}
}

func held(c *Cache, uids ...string) []string {
	var got []string
	for _, u := range uids {
		if _, ok := c.Get(u); ok {
			got = append(got, u)
		}
	}
	sort.Strings(got)
	return got
}

func TestCacheKeepsNewest(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		give     []order.Record
		want     []string // uids held afterwards
	}{
		{"under capacity keeps all", 3, []order.Record{rec("a", 1), rec("b", 2)}, []string{"a", "b"}},
		{"newer evicts oldest", 2, []order.Record{rec("a", 1), rec("b", 2), rec("c", 3)}, []string{"b", "c"}},
		{"older than all in full cache is refused", 2, []order.Record{rec("b", 2), rec("c", 3), rec("a", 1)}, []string{"b", "c"}},
		{"insertion order does not matter", 2, []order.Record{rec("c", 3), rec("a", 1), rec("b", 2)}, []string{"b", "c"}},
		{"tie on date: greater uid is newer", 2, []order.Record{rec("a", 5), rec("c", 5), rec("b", 5)}, []string{"b", "c"}},
		{"tie on date: smaller uid refused", 2, []order.Record{rec("b", 5), rec("c", 5), rec("a", 5)}, []string{"b", "c"}},
		{"same uid again is one entry", 2, []order.Record{rec("a", 1), rec("a", 1), rec("b", 2)}, []string{"a", "b"}},
		{"capacity zero holds nothing", 0, []order.Record{rec("a", 1)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.capacity)
			for _, r := range tt.give {
				c.Put(r)
			}
			got := held(c, "a", "b", "c")
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("held %v, want %v", got, tt.want)
			}
			if c.Len() != len(tt.want) {
				t.Fatalf("Len() = %d, want %d", c.Len(), len(tt.want))
			}
		})
	}
}

func TestCachePutReportsWhetherHeld(t *testing.T) {
	c := New(1)
	if !c.Put(rec("b", 2)) {
		t.Fatal("first Put refused")
	}
	if c.Put(rec("a", 1)) {
		t.Fatal("older record reported as held in a full cache")
	}
	if !c.Put(rec("c", 3)) {
		t.Fatal("newer record refused")
	}
	if got, ok := c.Get("c"); !ok || string(got.JSON) != `{"order_uid":"c"}` {
		t.Fatalf("Get(c) = %q, %v", got.JSON, ok)
	}
}

// TestCacheMatchesSortedModel checks the cache against the obvious model (sort
// everything, keep the first N) over many inserts in a scrambled order.
func TestCacheMatchesSortedModel(t *testing.T) {
	const capacity, total = 50, 1000
	c := New(capacity)
	var all []order.Record
	for i := 0; i < total; i++ {
		// Scrambled dates with many ties.
		r := rec(fmt.Sprintf("uid-%04d", i), (i*7919)%97)
		all = append(all, r)
		c.Put(r)
	}
	slices.SortFunc(all, order.NewestFirst)
	for i, r := range all {
		_, ok := c.Get(r.UID)
		if want := i < capacity; ok != want {
			t.Fatalf("record %d of newest-first (%s at %s): held=%v, want %v", i, r.UID, r.DateCreated, ok, want)
		}
	}
}

func TestCacheConcurrentUse(t *testing.T) {
	c := New(100)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				uid := fmt.Sprintf("w%d-%d", w, i)
				c.Put(rec(uid, i))
				c.Get(uid)
				c.Len()
			}
		}(w)
	}
	wg.Wait()
	if c.Len() != 100 {
		t.Fatalf("Len() = %d after concurrent puts, want 100", c.Len())
	}
	// The newest minute written (1999) by all 8 writers must be held.
	for w := 0; w < 8; w++ {
		if _, ok := c.Get(fmt.Sprintf("w%d-1999", w)); !ok {
			t.Fatalf("newest record of writer %d was evicted", w)
		}
	}
}

func BenchmarkCacheGet(b *testing.B) {
	c := New(1000)
	for i := 0; i < 1000; i++ {
		c.Put(rec(fmt.Sprintf("uid-%d", i), i))
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Get("uid-" + fmt.Sprint(i%1000))
			i++
		}
	})
}

func BenchmarkCachePut(b *testing.B) {
	c := New(1000)
	for i := 0; i < b.N; i++ {
		c.Put(rec(fmt.Sprintf("uid-%d", i), i))
	}
}

// TestCacheReadsDuringEvictions: readers ask for the uids about to be
// evicted while writers push newer records past capacity; every answer is the
// record asked for, never the one that took its place (another customer's
// order). Run it under -race.
func TestCacheReadsDuringEvictions(t *testing.T) {
	const capacity, writers, perWriter, readers = 64, 2, 8000, 4
	c := New(capacity)
	var latest [writers]atomic.Int64
	done := make(chan struct{})
	var mu sync.Mutex
	var wrong []string
	var rwg sync.WaitGroup
	for r := 0; r < readers; r++ {
		rwg.Add(1)
		go func(r int) {
			defer rwg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				w := i % writers
				// Each writer holds about capacity/writers records; the one
				// that many back from its latest is the next to go.
				n := latest[w].Load() - capacity/writers + int64(i%3)
				uid := fmt.Sprintf("w%d-%d", w, n)
				if got, ok := c.Get(uid); ok && (got.UID != uid || string(got.JSON) != `{"order_uid":"`+uid+`"}`) {
					mu.Lock()
					wrong = append(wrong, fmt.Sprintf("Get(%s) answered %s %s", uid, got.UID, got.JSON))
					mu.Unlock()
				}
				if r == 0 {
					for _, got := range c.Newest(3) {
						if string(got.JSON) != `{"order_uid":"`+got.UID+`"}` {
							mu.Lock()
							wrong = append(wrong, fmt.Sprintf("Newest gave %s with %s", got.UID, got.JSON))
							mu.Unlock()
						}
					}
				}
			}
		}(r)
	}
	var wwg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wwg.Add(1)
		go func(w int) {
			defer wwg.Done()
			for i := 0; i < perWriter; i++ {
				c.Put(rec(fmt.Sprintf("w%d-%d", w, i), i))
				latest[w].Store(int64(i))
			}
		}(w)
	}
	wwg.Wait()
	close(done)
	rwg.Wait()
	if len(wrong) > 0 {
		t.Fatalf("%d wrong answers, the first: %s", len(wrong), wrong[0])
	}
}

func TestCacheNewest(t *testing.T) {
	c := New(3)
	for _, r := range []order.Record{rec("a", 1), rec("d", 4), rec("b", 2), rec("c", 3), rec("e", 3)} {
		c.Put(r)
	}
	var got []string
	for _, r := range c.Newest(10) {
		got = append(got, r.UID)
	}
	if want := "[d e c]"; fmt.Sprint(got) != want {
		t.Fatalf("Newest(10) = %v, want %v", got, want)
	}
	if got := c.Newest(1); len(got) != 1 || got[0].UID != "d" {
		t.Fatalf("Newest(1) = %v, want d", got)
	}
}

// Admits answers what Put would do with a record the cache does not hold.
func TestCacheAdmits(t *testing.T) {
	key := func(uid string, minutes int) order.Key {
		return order.Key{DateCreated: base.Add(time.Duration(minutes) * time.Minute), UID: uid}
	}
	tests := []struct {
		name     string
		capacity int
		held     []order.Record
		give     order.Key
		want     bool
	}{
		{"room left", 2, []order.Record{rec("a", 1)}, key("z", 0), true},
		{"held already", 2, []order.Record{rec("a", 1)}, key("a", 1), false},
		{"full, newer than oldest", 2, []order.Record{rec("a", 1), rec("b", 2)}, key("c", 3), true},
		{"full, older than oldest", 2, []order.Record{rec("a", 1), rec("b", 2)}, key("c", 0), false},
		{"full, same time as oldest, greater uid", 2, []order.Record{rec("a", 1), rec("b", 2)}, key("aa", 1), true},
		{"full, same time as oldest, smaller uid", 2, []order.Record{rec("b", 1), rec("c", 2)}, key("a", 1), false},
		{"disabled", 0, nil, key("a", 1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.capacity)
			for _, r := range tt.held {
				c.Put(r)
			}
			if got := c.Admits(tt.give); got != tt.want {
				t.Fatalf("Admits(%v) = %v, want %v", tt.give, got, tt.want)
			}
			r := order.Record{UID: tt.give.UID, DateCreated: tt.give.DateCreated}
			if _, ok := c.Get(tt.give.UID); !ok {
				if got := c.Put(r); got != tt.want {
					t.Fatalf("Put after Admits = %v: Put = %v", tt.want, got)
				}
			}
		})
	}
}

// The cache holds the newest records whose JSON fits in MaxBytes: a thousand
// 1 MB orders cannot take a gigabyte.
func TestCacheBoundedByBytes(t *testing.T) {
	sized := func(uid string, minutes, size int) order.Record {
		r := rec(uid, minutes)
		r.JSON = make([]byte, size)
		return r
	}
	tests := []struct {
		name      string
		give      []order.Record
		wantHeld  []string
		wantBytes int
	}{
		{"under the bound keeps all", []order.Record{sized("a", 1, 30), sized("b", 2, 30)}, []string{"a", "b"}, 60},
		{"over the bound evicts the oldest", []order.Record{sized("a", 1, 40), sized("b", 2, 40), sized("c", 3, 40)}, []string{"b", "c"}, 80},
		{"an older record that does not fit is refused", []order.Record{sized("b", 2, 50), sized("c", 3, 50), sized("a", 1, 10)}, []string{"b", "c"}, 100},
		{"one record larger than the bound is refused", []order.Record{sized("a", 1, 10), sized("big", 2, 101)}, []string{"a"}, 10},
		{"a large new record evicts several", []order.Record{sized("a", 1, 30), sized("b", 2, 30), sized("c", 3, 30), sized("d", 4, 90)}, []string{"d"}, 90},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewBounded(10, 100)
			for _, r := range tt.give {
				c.Put(r)
			}
			if got := held(c, "a", "b", "c", "d", "big"); !slices.Equal(got, tt.wantHeld) {
				t.Fatalf("held %v, want %v", got, tt.wantHeld)
			}
			if c.Bytes() != tt.wantBytes || c.Len() != len(tt.wantHeld) {
				t.Fatalf("Bytes() = %d, Len() = %d; want %d, %d", c.Bytes(), c.Len(), tt.wantBytes, len(tt.wantHeld))
			}
		})
	}
	c := NewBounded(1000, 10<<20)
	for i := range 1000 {
		c.Put(sized(fmt.Sprintf("big-%04d", i), i, 1<<20))
	}
	if c.Bytes() > 10<<20 || c.Len() != 10 {
		t.Fatalf("a thousand 1 MiB orders left %d bytes in %d records, want at most 10 MiB in 10", c.Bytes(), c.Len())
	}
}
