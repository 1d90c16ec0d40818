package main

import (
	"runtime"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkWarmCache stores BENCH_ORDERS orders (default 100,000) through the
// service, then starts it again twice on that database: once with the cache
// off and once with room for every order. It reports how long the second
// start took (connect, migrate, warm, listen, join) and the live heap each
// cached order adds, next to the average size of an order's JSON. Run with
// -benchtime 1x.
func BenchmarkWarmCache(b *testing.B) {
	total := benchOrders(b)
	for range b.N {
		brokers := kafkatest.Brokers(b)
		cfg := testConfig(b, brokers)
		kafkatest.CreateTopics(b, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
		gen := fake.New(11)
		msgs := make([]kafkatest.Message, total)
		var jsonBytes int
		for j := range msgs {
			uid, raw := gen.OrderJSON()
			msgs[j] = kafkatest.Message{Key: []byte(uid), Value: raw}
			jsonBytes += len(raw)
		}
		kafkatest.Produce(b, brokers, cfg.Kafka.Topic, msgs...)
		cfg.Cache.Capacity = 0
		svc := startService(b, cfg)
		db := openStore(b, cfg.Postgres.DSN)
		eventually(b, "every order stored", 10*time.Minute, func() bool { o, _ := counts(b, db); return o == int64(total) })
		svc.stop(b)

		msgs = nil
		cold := startService(b, cfg)
		before := liveHeap()
		cold.stop(b)

		cfg.Cache.Capacity = total
		b.ResetTimer()
		start := time.Now()
		warm := startService(b, cfg)
		took := time.Since(start)
		b.StopTimer()
		after := liveHeap()
		warm.stop(b)

		perOrder := float64(after-before) / float64(total)
		avgJSON := float64(jsonBytes) / float64(total)
		b.Logf("start with %d orders to warm: %s; live heap per cached order %.0f B, the order's JSON %.0f B on average (%.2fx)",
			total, took.Round(time.Millisecond), perOrder, avgJSON, perOrder/avgJSON)
		b.ReportMetric(took.Seconds(), "start-s")
		b.ReportMetric(perOrder, "heap-B/order")
		b.ReportMetric(avgJSON, "json-B/order")
	}
}
