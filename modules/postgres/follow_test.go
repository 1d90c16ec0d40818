package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/postgres"
)

// sink is a cache that holds everything up to its capacity and counts puts.
type sink struct {
	mu       sync.Mutex
	capacity int
	held     map[string]order.Record
}

func newSink(capacity int) *sink { return &sink{capacity: capacity, held: map[string]order.Record{}} }

func (s *sink) Admits(k order.Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.held[k.UID]
	return !ok && len(s.held) < s.capacity
}

func (s *sink) Put(r order.Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.held[r.UID]; !ok && len(s.held) >= s.capacity {
		return false
	}
	s.held[r.UID] = r
	return true
}

func (s *sink) Capacity() int { return s.capacity }

func (s *sink) has(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.held[uid]
	return ok
}

type delays struct{ n atomic.Int64 }

func (d *delays) Followed(time.Duration) { d.n.Add(1) }

// follower starts a follower of store s's database with its own sink.
func follower(t *testing.T, s *postgres.Store, dsn string, capacity int) (*postgres.Follower, *sink, *delays) {
	t.Helper()
	k, obs := newSink(capacity), &delays{}
	f := postgres.NewFollower(s, postgres.Config{DSN: dsn}, k, obs, logger(t))
	if _, err := f.Warm(t.Context()); err != nil {
		t.Fatalf("warm: %v", err)
	}
	f.Start()
	t.Cleanup(func() { _ = f.Stop(context.Background()) })
	waitFor(t, "the follower to listen", func() bool { return f.ReadyCheck(t.Context()) == nil })
	return f, k, obs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two instances on one database: what one stores, the other caches, and an
// instance does not read back what it stored itself.
func TestFollowerCachesWhatAnotherInstanceStores(t *testing.T) {
	a, dsn := open(t)
	b := openAt(t, dsn)
	_, cached, obs := follower(t, b, dsn, 100)

	base := fixture(t)
	var batch []order.Parsed
	for i := range 3 {
		batch = append(batch, parsed(t, variant(base, fmt.Sprintf("from-a-%d", i), day(i))))
	}
	save(t, a, batch...)
	waitFor(t, "b to cache a's orders", func() bool {
		return cached.has("from-a-0") && cached.has("from-a-1") && cached.has("from-a-2")
	})
	save(t, b, parsed(t, variant(base, "from-b", day(9))))
	save(t, a, parsed(t, variant(base, "from-a-later", day(10))))
	waitFor(t, "b to cache a's later order", func() bool { return cached.has("from-a-later") })
	if cached.has("from-b") {
		t.Error("b's follower read back an order b stored itself (its service caches it as it stores it)")
	}
	if got := obs.n.Load(); got != 4 {
		t.Errorf("%d follow delays observed, want 4 (one per order cached from another instance)", got)
	}
}

// A replayed batch that holds a new order and an old one announces only the
// new one; a full sink is not asked to take what it would not keep.
func TestFollowerSeesStagedPathOrders(t *testing.T) {
	a, dsn := open(t)
	b := openAt(t, dsn)
	base := fixture(t)
	old := parsed(t, variant(base, "old", day(1)))
	save(t, a, old)
	_, cached, _ := follower(t, b, dsn, 100)
	save(t, a, old, parsed(t, variant(base, "new", day(2))))
	waitFor(t, "the new order of a mixed batch", func() bool { return cached.has("new") })
}

// A cut listening connection, while orders are stored all the time, misses
// nothing: the follower reconnects and catches up before it says ready. So
// does a follower stopped while orders were stored.
func TestFollowerCatchesUp(t *testing.T) {
	a, dsn := open(t)
	b := openAt(t, dsn)
	f, cached, _ := follower(t, b, dsn, 10_000)
	base := fixture(t)

	var uids []string
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			p := parsed(t, variant(base, fmt.Sprintf("flow-%04d", i), day(1).Add(time.Duration(i)*time.Second)))
			if _, err := a.SaveBatch(context.WithoutCancel(ctx), []order.Parsed{p}); err != nil {
				t.Errorf("save: %v", err)
				return
			}
			uids = append(uids, p.Order.OrderUID)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	for range 3 {
		terminateListeners(t, dsn)
		time.Sleep(150 * time.Millisecond)
	}
	cancel()
	<-done
	waitFor(t, "the follower to be back", func() bool { return f.ReadyCheck(t.Context()) == nil })
	waitFor(t, "every order stored during the cuts cached", func() bool {
		for _, u := range uids {
			if !cached.has(u) {
				return false
			}
		}
		return true
	})
	t.Logf("%d orders stored while the listener was cut 3 times; all cached", len(uids))

	if err := f.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if f.ReadyCheck(t.Context()) == nil {
		t.Error("a stopped follower says it follows")
	}
	save(t, a, parsed(t, variant(base, "while-stopped", day(30))))
	f.Start()
	waitFor(t, "the order stored while stopped", func() bool { return cached.has("while-stopped") })
}

// openAt is another instance's store on the database at dsn.
func openAt(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), postgres.Config{DSN: dsn, ConnectTimeout: 10 * time.Second}, logger(t))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// terminateListeners ends every listening connection of the database at dsn,
// as a failover or a network cut would.
func terminateListeners(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, postgres.ListenerName); err != nil {
		t.Fatal(err)
	}
}
