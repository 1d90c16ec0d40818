package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/postgres"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// Through a transaction pooler each transaction gets whichever of its two
// server connections is free, so anything the store left on a session
// (a named prepared statement, a temporary table, a session advisory lock)
// shows up in another client's transaction, or is missing from its own next
// one.
const poolerPoolSize = 2

// pooledConfig is the configuration of an instance whose DSN names the
// pooler and whose DirectDSN names the server.
func pooledConfig(pooled, direct string) postgres.Config {
	// More client connections per instance than the pooler has server
	// connections, so they really share them.
	return postgres.Config{DSN: pooled, DirectDSN: direct, MaxConns: 8, ConnectTimeout: 20 * time.Second}
}

// openPooled opens n stores at once, as instances starting together would:
// their migrations race for the lock on the direct connection.
func openPooled(t *testing.T, cfg postgres.Config, n int) []*postgres.Store {
	t.Helper()
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			stores[i], errs[i] = postgres.Open(ctx, cfg, logger(t))
		})
	}
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close store %d: %v", i, err)
				}
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("open through the pooler: %v", err)
	}
	return stores
}

// Two instances start together through PgBouncer in transaction mode and
// then store, replay, conflict and read at the same time: every outcome is
// what it is on a direct connection, and no batch fails.
func TestThroughTransactionPooler(t *testing.T) {
	pooled, direct := pgtest.Pooled(t, pgtest.BouncerOptions{PoolSize: poolerPoolSize})
	stores := openPooled(t, pooledConfig(pooled, direct), 2)
	checkMigrated(t, direct)

	base := fixture(t)
	const writers, batches, size = 6, 8, 25
	// batch w, b holds orders of writer w only, so every writer's batches
	// are new the first time.
	batchOf := func(w, b int) []order.Parsed {
		out := make([]order.Parsed, size)
		for i := range out {
			n := (w*batches+b)*size + i
			o := variant(base, fmt.Sprintf("pool-%d-%02d-%02d", w, b, i), day(0).Add(time.Duration(n)*time.Minute))
			if i%5 == 0 {
				o = withItems(o, 3)
			}
			out[i] = parsed(t, o)
		}
		return out
	}
	// run has each writer save its batches on one of the two stores, all at
	// once, and checks every outcome.
	run := func(what string, give func(w, b int) []order.Parsed, want func(w, b int) []order.Outcome) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, writers*batches)
		for w := range writers {
			s := stores[w%len(stores)]
			wg.Go(func() {
				for b := range batches {
					got, err := s.SaveBatch(t.Context(), give(w, b))
					if err != nil {
						errs <- fmt.Errorf("%s: writer %d batch %d: %w", what, w, b, err)
						return
					}
					if wantOut := want(w, b); !slices.Equal(got, wantOut) {
						errs <- fmt.Errorf("%s: writer %d batch %d: outcomes %v, want %v", what, w, b, got, wantOut)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	all := func(o order.Outcome, n int) []order.Outcome { return slices.Repeat([]order.Outcome{o}, n) }

	// New orders: the COPY path.
	run("new orders", batchOf, func(int, int) []order.Outcome { return all(order.Stored, size) })
	wantOrders := int64(writers * batches * size)
	wantItems := wantOrders + 2*wantOrders/5 // every fifth order has 3 items
	if o, i := count(t, direct); o != wantOrders || i != wantItems {
		t.Fatalf("after new orders: %d orders, %d items; want %d, %d", o, i, wantOrders, wantItems)
	}
	// Six writers on two stores went through at most two server
	// connections: the pooler really shared them.
	var backends int64
	query(t, direct, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`, &backends)
	if backends > poolerPoolSize {
		t.Fatalf("%d server connections to the database, want at most the pooler's %d", backends, poolerPoolSize)
	}

	// A replay with one new order in each batch: the staged path, whose
	// temporary table two clients create at once on shared server
	// connections.
	run("replay", func(w, b int) []order.Parsed {
		replay := batchOf(w, b)
		extra := variant(base, fmt.Sprintf("pool-extra-%d-%02d", w, b), day(100).Add(time.Duration(w*batches+b)*time.Minute))
		return append(replay, parsed(t, extra))
	}, func(int, int) []order.Outcome { return append(all(order.Duplicate, size), order.Stored) })
	wantOrders += writers * batches
	wantItems += writers * batches
	if o, i := count(t, direct); o != wantOrders || i != wantItems {
		t.Fatalf("after the replay: %d orders, %d items; want %d, %d", o, i, wantOrders, wantItems)
	}

	// A conflict, a repeat within the batch and a duplicate in one batch.
	first := batchOf(0, 0)[0]
	changed := first.Order
	changed.Delivery.Name = "Someone Else"
	fresh := parsed(t, variant(base, "pool-fresh", day(200)))
	got := save(t, stores[1], parsed(t, changed), fresh, fresh, first)
	if want := []order.Outcome{order.Conflict, order.Stored, order.Duplicate, order.Duplicate}; !slices.Equal(got, want) {
		t.Fatalf("conflict batch: outcomes %v, want %v", got, want)
	}
	for _, s := range stores {
		rec, err := s.Get(t.Context(), first.Order.OrderUID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if !bytes.Equal(rec.JSON, first.JSON) {
			t.Fatalf("the stored order changed after a conflict: %s", rec.JSON)
		}
	}
	wantOrders++
	wantItems++

	// Reads on both stores at once: Get of every order, Newest, Search.
	var uids []string
	for w := range writers {
		for b := range batches {
			for _, p := range batchOf(w, b) {
				uids = append(uids, p.Order.OrderUID)
			}
		}
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			for j, uid := range uids {
				if j%len(stores) != i {
					continue
				}
				if _, err := s.Get(t.Context(), uid); err != nil {
					t.Errorf("get %s: %v", uid, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, s := range stores {
		newest, err := s.Newest(t.Context(), 3)
		if err != nil {
			t.Fatalf("newest: %v", err)
		}
		if len(newest) != 3 || newest[0].UID != "pool-fresh" {
			t.Fatalf("newest 3 = %v, want pool-fresh first", newest)
		}
		all, err := s.Newest(t.Context(), int(wantOrders)+10)
		if err != nil || int64(len(all)) != wantOrders {
			t.Fatalf("newest of all: %d records, err %v; want %d", len(all), err, wantOrders)
		}
		var listed []string
		f := order.Filter{Transaction: "pool-3-04-07", Limit: 1}
		page, err := s.Search(t.Context(), f)
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		for _, r := range page.Records {
			listed = append(listed, r.UID)
		}
		if !slices.Equal(listed, []string{"pool-3-04-07"}) || page.Next != nil {
			t.Fatalf("search by transaction listed %v (next %v)", listed, page.Next)
		}
		// Every order, by pages of 100: one query per page, each on
		// whichever server connection is free.
		listed = listed[:0]
		for f := (order.Filter{Limit: order.MaxListLimit}); ; {
			page, err := s.Search(t.Context(), f)
			if err != nil {
				t.Fatalf("search: %v", err)
			}
			for _, r := range page.Records {
				listed = append(listed, r.UID)
			}
			if page.Next == nil {
				break
			}
			f.After = page.Next
		}
		if int64(len(listed)) != wantOrders {
			t.Fatalf("search of every order listed %d, want %d", len(listed), wantOrders)
		}
	}
	if o, i := count(t, direct); o != wantOrders || i != wantItems {
		t.Fatalf("at the end: %d orders, %d items; want %d, %d", o, i, wantOrders, wantItems)
	}
}

// What one instance stores through the pooler, another caches: its follower
// listens on the direct connection, because a transaction pooler does not
// deliver notifications to a session.
func TestFollowerWithTransactionPooler(t *testing.T) {
	pooled, direct := pgtest.Pooled(t, pgtest.BouncerOptions{PoolSize: poolerPoolSize})
	cfg := pooledConfig(pooled, direct)
	stores := openPooled(t, cfg, 2)
	a, b := stores[0], stores[1]
	base := fixture(t)
	old := parsed(t, variant(base, "before-warm", day(1)))
	save(t, a, old)

	cached, obs := newSink(1000), &delays{}
	f := postgres.NewFollower(b, cfg, cached, obs, logger(t))
	if n, err := f.Warm(t.Context()); err != nil || n != 1 {
		t.Fatalf("warm through the pooler: %d orders, err %v; want 1", n, err)
	}
	f.Start()
	t.Cleanup(func() { _ = f.Stop(context.Background()) })
	waitFor(t, "the follower to listen", func() bool { return f.ReadyCheck(t.Context()) == nil })

	var uids []string
	for i := range 20 {
		batch := []order.Parsed{old} // every other batch takes the staged path
		if i%2 == 0 {
			batch = nil
		}
		for j := range 5 {
			p := parsed(t, variant(base, fmt.Sprintf("followed-%02d-%d", i, j), day(2).Add(time.Duration(i*5+j)*time.Minute)))
			batch = append(batch, p)
			uids = append(uids, p.Order.OrderUID)
		}
		save(t, a, batch...)
	}
	waitFor(t, "b to cache every order a stored through the pooler", func() bool {
		for _, u := range uids {
			if !cached.has(u) {
				return false
			}
		}
		return true
	})
	if got := obs.n.Load(); got != int64(len(uids)) {
		t.Errorf("%d follow delays observed, want %d", got, len(uids))
	}
}
