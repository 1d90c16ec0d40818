package main

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
)

// BenchmarkIngestPreloaded measures orders stored per second by the whole
// service: BENCH_ORDERS generated orders (default 100,000) are produced to a
// 3-partition topic first, then the service starts and the clock runs until
// the database holds them all. Run with -benchtime 1x.
func BenchmarkIngestPreloaded(b *testing.B) {
	total := benchOrders(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		brokers := kafkatest.Brokers(b)
		cfg := testConfig(b, brokers)
		kafkatest.CreateTopics(b, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
		gen := fake.New(int64(i + 1))
		msgs := make([]kafkatest.Message, total)
		for j := range msgs {
			uid, raw := gen.OrderJSON()
			msgs[j] = kafkatest.Message{Key: []byte(uid), Value: raw}
		}
		kafkatest.Produce(b, brokers, cfg.Kafka.Topic, msgs...)
		store := openStore(b, cfg.Postgres.DSN)

		b.StartTimer()
		start := time.Now()
		svc := startService(b, cfg)
		for {
			o, _ := counts(b, store)
			if o == int64(total) {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("only %d of %d stored after 10 minutes", o, total)
			}
			time.Sleep(20 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(float64(total)/elapsed.Seconds(), "orders/s")
		svc.stop(b)
	}
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
