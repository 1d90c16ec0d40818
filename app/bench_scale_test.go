package main

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
)

// BenchmarkScaleOut runs 1, 2 and 3 instances of the service binary in one
// consumer group on a 6-partition topic pre-loaded with BENCH_ORDERS orders
// (default 100,000), all on this one machine with the database and the
// in-process broker. It reports orders stored per second by all instances
// together: over the whole run from the first exec (joins and rebalances
// included) and over the steady middle, from 10% to 90% stored. Run with
// -benchtime 1x.
func BenchmarkScaleOut(b *testing.B) {
	total := benchOrders(b)
	bin := buildBinary(b)
	for range b.N {
		for _, n := range []int{1, 2, 3} {
			brokers := kafkatest.Brokers(b)
			cfg := testConfig(b, brokers)
			kafkatest.CreateTopics(b, brokers, 6, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
			gen := fake.New(int64(20 + n))
			msgs := make([]kafkatest.Message, total)
			for j := range msgs {
				uid, raw := gen.OrderJSON()
				msgs[j] = kafkatest.Message{Key: []byte(uid), Value: raw}
			}
			kafkatest.Produce(b, brokers, cfg.Kafka.Topic, msgs...)
			msgs = nil

			start := time.Now()
			var bases []string
			var children []*child
			for range n {
				cfg.HTTP.Addr = freeAddr(b)
				bases = append(bases, "http://"+cfg.HTTP.Addr)
				children = append(children, startChild(b, bin, env(cfg)))
			}
			var t10, t90 time.Duration
			for {
				var stored float64
				for _, base := range bases {
					stored += metricOrZero(base, `orders_ingested_total{outcome="stored"}`)
				}
				at := time.Since(start)
				if t10 == 0 && stored >= 0.1*float64(total) {
					t10 = at
				}
				if t90 == 0 && stored >= 0.9*float64(total) {
					t90 = at
				}
				if stored >= float64(total) {
					break
				}
				if at > 10*time.Minute {
					b.Fatalf("%d instances: %.0f of %d stored after 10 minutes", n, stored, total)
				}
				time.Sleep(100 * time.Millisecond)
			}
			all := time.Since(start)
			for _, c := range children {
				if err := c.stop(b, syscall.SIGTERM, time.Minute); err != nil {
					b.Fatalf("instance exit: %v\n%s", err, c.out)
				}
			}
			db := openStore(b, cfg.Postgres.DSN)
			if o, _ := counts(b, db); o != int64(total) {
				b.Fatalf("%d instances: the database holds %d orders, want %d", n, o, total)
			}
			whole, steady := float64(total)/all.Seconds(), 0.8*float64(total)/(t90-t10).Seconds()
			b.Logf("%d instance(s), 6 partitions: %.0f orders/s over the whole run (%s), %.0f orders/s from 10%% to 90%% stored",
				n, whole, all.Round(time.Millisecond), steady)
			b.ReportMetric(whole, strconv.Itoa(n)+"-orders/s")
			b.ReportMetric(steady, strconv.Itoa(n)+"-steady-orders/s")
		}
	}
}
