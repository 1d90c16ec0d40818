//go:build growth

package postgres_test

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// BenchmarkUpgrade is the upgrade from schema version BENCH_UPGRADE_FROM
// (default 4: migrations 005 to 007; 6 is 007 alone) on a database that
// holds BENCH_UPGRADE_ORDERS orders (default 1,000,000): the orders are
// COPYed into the current schema, the Downs bring back what later versions
// dropped (filled from the orders' JSON or search keys), and then the Ups
// are timed, while one connection keeps reading orders by uid. Build tag
// growth:
//
//	go test -tags growth -run '^$' -bench Upgrade -benchtime 1x -timeout 1h ./modules/postgres
func BenchmarkUpgrade(b *testing.B) {
	n, from := 1_000_000, int64(4)
	if v := os.Getenv("BENCH_UPGRADE_ORDERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("BENCH_UPGRADE_ORDERS: want a positive count, got %q", v)
		}
	}
	if v := os.Getenv("BENCH_UPGRADE_FROM"); v != "" {
		var err error
		if from, err = strconv.ParseInt(v, 10, 64); err != nil || from < 4 || from >= latestVersion(b) {
			b.Fatalf("BENCH_UPGRADE_FROM: want a version from 4 to %d, got %q", latestVersion(b)-1, v)
		}
	}
	for range b.N {
		_, dsn := open(b)
		ctx := b.Context()
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		uids := fillOrders(b, pool, n)
		down, err := postgres.MigrateTo(ctx, dsn, from)
		if err != nil {
			b.Fatalf("down to %d: %v", from, err)
		}
		// Every table, as autovacuum would have left them.
		if _, err := pool.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
			b.Fatal(err)
		}
		before := size(b, pool)

		stop := make(chan struct{})
		var (
			reads, failed atomic.Int64
			slowest       time.Duration
			wg            sync.WaitGroup
		)
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				var raw []byte
				err := pool.QueryRow(ctx, "SELECT raw FROM orders WHERE order_uid = $1", uids[i%len(uids)]).Scan(&raw)
				slowest = max(slowest, time.Since(t0))
				reads.Add(1)
				if err != nil {
					failed.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		up, err := postgres.MigrateTo(ctx, dsn, latestVersion(b))
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatalf("up from %d: %v", from, err)
		}
		if _, err := pool.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
			b.Fatal(err)
		}
		after := size(b, pool)
		b.ReportMetric(float64(n), "orders")
		b.ReportMetric(down.Seconds(), "down-s")
		b.ReportMetric(up.Seconds(), "up-s")
		b.ReportMetric(float64(before)/float64(n), "disk-B/order-before")
		b.ReportMetric(float64(after)/float64(n), "disk-B/order-after")
		b.ReportMetric(float64(reads.Load()), "reads-during-up")
		b.ReportMetric(float64(failed.Load()), "failed-reads")
		b.ReportMetric(float64(slowest.Microseconds())/1000, "slowest-read-ms")
	}
}

// fillOrders COPYs n generated orders into the current schema and returns
// some of their uids.
func fillOrders(b *testing.B, pool *pgxpool.Pool, n int) []string {
	const batch = 1_000
	ctx := b.Context()
	var at time.Time
	first := time.Now().Add(-365 * 24 * time.Hour)
	gen := fake.New(1, fake.WithClock(func() time.Time { return at }))
	rules := order.DefaultRules()
	var uids []string
	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	for lo := 0; lo < n; lo += batch {
		out := make([]order.Parsed, 0, batch)
		for i := lo; i < min(lo+batch, n); i++ {
			at = first.Add(time.Duration(i) * time.Second)
			raw, err := json.Marshal(gen.Order())
			if err != nil {
				b.Fatal(err)
			}
			p, err := rules.Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, p)
		}
		uids = append(uids, out[0].Order.OrderUID)
		if err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error { return pgtest.CopyOrders(ctx, tx, out) }); err != nil {
			b.Fatal(err)
		}
	}
	return uids
}

// size is the database's size on disk.
func size(b *testing.B, pool *pgxpool.Pool) int64 {
	var n int64
	if err := pool.QueryRow(context.WithoutCancel(b.Context()), "SELECT pg_database_size(current_database())").Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}
