package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
		dsn  func(testing.TB) string
	}{
		{"test-cluster", pgtest.DSN},
		{"durable", durableDSN},
	}
	for _, c := range clusters {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ingestPair(b, total, c.dsn(b), int64(i+1))
			}
		})
	}
}

// durableDSN is an empty database on a private cluster of its own that
// keeps fsync and synchronous commit on.
func durableDSN(t testing.TB) string {
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
	return dsn
}

// ingestPair stores total generated orders through the service and then
// through bare COPY on the database at dsn, and reports both rates.
func ingestPair(b *testing.B, total int, dsn string, seed int64) {
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
		time.Sleep(20 * time.Millisecond)
	}
	service := time.Since(start)
	serviceCPU, serviceIdle := cpuSecs()-cpu0, idleSecs()-idle0
	b.StopTimer()
	svc.stop(b)
	if o, _ := counts(b, db); o != int64(total) {
		b.Fatalf("the database holds %d orders, want %d", o, total)
	}

	// Parsed only now: the service's run should not pay to scan them.
	var batches [][]order.Parsed
	for j, m := range msgs {
		p, err := order.DefaultRules().Parse(m.Value)
		if err != nil {
			b.Fatalf("generated order does not parse: %v", err)
		}
		if j%cfg.Kafka.BatchSize == 0 {
			batches = append(batches, make([]order.Parsed, 0, cfg.Kafka.BatchSize))
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], p)
	}
	if _, err := db.Exec(b.Context(), "TRUNCATE orders, deliveries, payments, items"); err != nil {
		b.Fatal(err)
	}
	cpu1, idle1 := cpuSecs(), idleSecs()
	start = time.Now()
	errs := make(chan error, partitions)
	for w := range partitions { // as many writers as the service has partitions
		go func() {
			conn, err := db.Acquire(b.Context())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Release()
			for k := w; k < len(batches); k += partitions {
				err := pgx.BeginFunc(b.Context(), conn, func(tx pgx.Tx) error { return pgtest.CopyOrders(b.Context(), tx, batches[k]) })
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range partitions {
		if err := <-errs; err != nil {
			b.Fatalf("copy: %v", err)
		}
	}
	bound := time.Since(start)
	boundCPU, boundIdle := cpuSecs()-cpu1, idleSecs()-idle1

	rate, copyRate := float64(total)/service.Seconds(), float64(total)/bound.Seconds()
	b.Logf("%d orders: service %.0f orders/s (%s), pgx COPY %.0f orders/s (%s), ratio %.2f",
		total, rate, service.Round(time.Millisecond), copyRate, bound.Round(time.Millisecond), rate/copyRate)
	// What bounds both: with little idle CPU left on the machine, the
	// database and this process share the cores.
	b.Logf("CPU: the service's run used %.1f core-s in this process (service and in-process broker), the machine idled %.1f core-s; COPY's run used %.1f in this process, idle %.1f",
		serviceCPU, serviceIdle, boundCPU, boundIdle)
	b.ReportMetric(rate, "orders/s")
	b.ReportMetric(copyRate, "copy-orders/s")
	b.ReportMetric(rate/copyRate, "ratio")
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
