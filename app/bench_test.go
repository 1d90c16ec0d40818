package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// BenchmarkIngestPreloaded measures orders stored per second by the whole
// service next to its bound, on the test cluster (fsync off) and on a
// durable one (fsync and synchronous commit on). BENCH_ORDERS generated
// orders (default 100,000) are produced to a 3-partition topic first; then
// the service starts and the clock runs until the database holds them all
// (start-up included). The bound is the same orders, parsed beforehand,
// copied with pgx COPY into the same emptied tables in batches of the
// consumer's size, one transaction each, by as many connections at once as
// the topic has partitions. Run with -benchtime 1x.
func BenchmarkIngestPreloaded(b *testing.B) {
	total := benchOrders(b)
	clusters := []struct {
		name string
		dsn  func(testing.TB) (dsn, admin string)
	}{
		{"test-cluster", func(tb testing.TB) (string, string) { return pgtest.DSN(tb), pgtest.AdminDSN(tb) }},
		{"durable", durableDSN},
	}
	rounds := benchRounds(b)
	for _, c := range clusters {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				dsn, admin := c.dsn(b)
				var sum ingestRun
				for r := range rounds {
					run := ingestPair(b, total, dsn, admin, int64(r+1))
					b.Logf("round %d: %s", r+1, run)
					sum.add(run)
				}
				b.Logf("%d rounds: %s", rounds, sum)
				b.ReportMetric(float64(sum.orders)/sum.service.Seconds(), "orders/s")
				b.ReportMetric(float64(sum.orders)/sum.bound.Seconds(), "copy-orders/s")
				b.ReportMetric(sum.bound.Seconds()/sum.service.Seconds(), "ratio")
			}
		})
	}
}

// benchRounds is BENCH_ROUNDS, how many times the ingest pair runs, the
// service and COPY in turn (default 5).
func benchRounds(b *testing.B) int {
	n := 5
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("BENCH_ROUNDS: want a positive count, got %q", v)
		}
	}
	return n
}

// ingestRun is what one or more ingest pairs measured.
type ingestRun struct {
	orders                  int
	service, bound          time.Duration
	serviceCPU, serviceIdle float64 // core-seconds: this process's, the machine's idle
	boundCPU, boundIdle     float64
}

func (r *ingestRun) add(o ingestRun) {
	r.orders += o.orders
	r.service += o.service
	r.bound += o.bound
	r.serviceCPU += o.serviceCPU
	r.serviceIdle += o.serviceIdle
	r.boundCPU += o.boundCPU
	r.boundIdle += o.boundIdle
}

func (r ingestRun) String() string {
	rate, copyRate := float64(r.orders)/r.service.Seconds(), float64(r.orders)/r.bound.Seconds()
	// With little idle CPU left, the database and this process (service
	// and in-process broker) share the cores: that is what bounds both.
	return fmt.Sprintf("%d orders: service %.0f orders/s (%s), pgx COPY %.0f orders/s (%s), ratio %.2f; "+
		"CPU: this process used %.1f core-s and the machine idled %.1f during the service's run, %.1f and %.1f during COPY's",
		r.orders, rate, r.service.Round(time.Millisecond), copyRate, r.bound.Round(time.Millisecond), rate/copyRate,
		r.serviceCPU, r.serviceIdle, r.boundCPU, r.boundIdle)
}

// durableDSN is an empty database on a private cluster of its own that
// keeps fsync and synchronous commit on, and the cluster's superuser.
func durableDSN(t testing.TB) (string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgtest.Start(ctx, pgtest.Options{Durable: true})
	if err != nil {
		t.Fatalf("durable cluster: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	dsn, err := srv.CreateDatabase(ctx, "bench")
	if err != nil {
		t.Fatal(err)
	}
	return dsn, srv.AdminDSN()
}

// ingestPair stores total generated orders through the service and then
// through bare COPY on the database at dsn, emptied and checkpointed (as
// admin) before each, so that neither pays for the other's dirty pages.
func ingestPair(b *testing.B, total int, dsn, admin string, seed int64) ingestRun {
	b.StopTimer()
	brokers := kafkatest.Brokers(b)
	cfg := testConfig(b, brokers)
	cfg.Postgres.DSN = dsn
	const partitions = 3
	kafkatest.CreateTopics(b, brokers, partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	gen := fake.New(seed)
	msgs := make([]kafkatest.Message, total)
	for j := range msgs {
		uid, raw := gen.OrderJSON()
		msgs[j] = kafkatest.Message{Key: []byte(uid), Value: raw}
	}
	kafkatest.Produce(b, brokers, cfg.Kafka.Topic, msgs...)
	db := openStore(b, dsn)
	truncate(b, db)
	checkpoint(b, admin)

	b.StartTimer()
	cpu0, idle0 := cpuSecs(), idleSecs()
	start := time.Now()
	svc := startService(b, cfg)
	// The stored count is read from the service's metrics, which count a
	// batch once committed: counting rows would load the database it measures.
	for metric(b, svc.base, `orders_ingested_total{outcome="stored"}`) < float64(total) {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("not all %d orders stored after 10 minutes", total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	service := time.Since(start)
	serviceCPU, serviceIdle := cpuSecs()-cpu0, idleSecs()-idle0
	b.StopTimer()
	svc.stop(b)
	if o, _ := counts(b, db); o != int64(total) {
		b.Fatalf("the database holds %d orders, want %d", o, total)
	}

	// Parsed only now: the service's run should not pay to scan them.
	batches := consumerBatches(b, msgs, cfg.Kafka.BatchSize)
	if _, err := db.Exec(b.Context(), "TRUNCATE orders"); err != nil {
		b.Fatal(err)
	}
	cpu1, idle1 := cpuSecs(), idleSecs()
	start = time.Now()
	if err := copyBatches(b.Context(), db, batches, partitions); err != nil {
		b.Fatalf("copy: %v", err)
	}
	bound := time.Since(start)
	boundCPU, boundIdle := cpuSecs()-cpu1, idleSecs()-idle1

	return ingestRun{orders: total, service: service, bound: bound,
		serviceCPU: serviceCPU, serviceIdle: serviceIdle, boundCPU: boundCPU, boundIdle: boundIdle}
}

// consumerBatches parses the messages into batches of the consumer's size,
// for the COPY bound.
func consumerBatches(b *testing.B, msgs []kafkatest.Message, size int) [][]order.Parsed {
	batches := make([][]order.Parsed, 0, len(msgs)/size+1)
	for j, m := range msgs {
		p, err := order.DefaultRules().Parse(m.Value)
		if err != nil {
			b.Fatalf("generated order does not parse: %v", err)
		}
		if j%size == 0 {
			batches = append(batches, make([]order.Parsed, 0, size))
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], p)
	}
	return batches
}

// truncate empties the orders table, if it exists yet.
func truncate(b *testing.B, db *pgxpool.Pool) {
	_, err := db.Exec(b.Context(), "TRUNCATE orders")
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P01") { // undefined_table
		b.Fatal(err)
	}
}

// checkpoint writes every dirty page out, where the user of admin may; a
// server that refuses says so once.
func checkpoint(b *testing.B, admin string) {
	conn, err := pgx.Connect(b.Context(), admin)
	if err == nil {
		defer conn.Close(context.WithoutCancel(b.Context()))
		_, err = conn.Exec(b.Context(), "CHECKPOINT")
	}
	if err != nil && checkpointRefused.CompareAndSwap(false, true) {
		b.Logf("no CHECKPOINT before the timed runs: %v", err)
	}
}

var checkpointRefused atomic.Bool

// idleSecs is how long the machine's cores have idled in all, from
// /proc/stat (in USER_HZ, 100 a second on Linux); 0 where it is unreadable.
func idleSecs() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	var user, nice, sys, idle float64
	if _, err := fmt.Sscanf(string(raw), "cpu %f %f %f %f", &user, &nice, &sys, &idle); err != nil {
		return 0
	}
	return idle / 100
}

// cpuSecs is the CPU time this process has used, user and system.
func cpuSecs() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// benchOrders is BENCH_ORDERS, the orders a whole-service benchmark uses
// (default 100,000).
func benchOrders(b *testing.B) int {
	total := 100_000
	if v := os.Getenv("BENCH_ORDERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("BENCH_ORDERS: %v", err)
		}
		total = n
	}
	return total
}

// copyBatches COPYs the batches into the service's tables, each in its own
// transaction, on writers connections at once (as many as the service has
// partitions), and returns the first error.
func copyBatches(ctx context.Context, db *pgxpool.Pool, batches [][]order.Parsed, writers int) error {
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			conn, err := db.Acquire(ctx)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Release()
			for k := w; k < len(batches); k += writers {
				err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return pgtest.CopyOrders(ctx, tx, batches[k]) })
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range writers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
