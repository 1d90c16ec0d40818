package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
)

// BenchmarkWarmCache stores BENCH_ORDERS orders (default 100,000) through
// the service, then runs the service binary on that database twice: with
// the cache off, and with room for every order. It reports how long the
// second took from exec until /readyz answered 200 (connect, migrate, warm,
// listen, join), and the resident memory (RSS) each cached order adds,
// next to the average size of an order's JSON. RSS is read from /proc a
// few seconds after ready. Run with -benchtime 1x.
func BenchmarkWarmCache(b *testing.B) {
	total := benchOrders(b)
	bin := buildBinary(b)
	for range b.N {
		b.StopTimer()
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
		msgs = nil
		cfg.Cache.Capacity = 0
		svc := startService(b, cfg)
		eventually(b, "every order stored", 10*time.Minute, func() bool {
			return metric(b, svc.base, `orders_ingested_total{outcome="stored"}`) == float64(total)
		})
		svc.stop(b)

		_, empty := runReady(b, bin, cfg)
		cfg.Cache.Capacity = total
		b.StartTimer()
		took, full := runReady(b, bin, cfg)
		b.StopTimer()

		perOrder := float64(full-empty) / float64(total)
		avgJSON := float64(jsonBytes) / float64(total)
		b.Logf("start with %d orders to warm: ready %s after exec; RSS %d MiB with the cache off, %d MiB with every order cached: %.0f B per cached order, the order's JSON %.0f B on average (%.2fx)",
			total, took.Round(time.Millisecond), empty>>20, full>>20, perOrder, avgJSON, perOrder/avgJSON)
		b.ReportMetric(took.Seconds(), "start-s")
		b.ReportMetric(perOrder, "rss-B/order")
		b.ReportMetric(avgJSON, "json-B/order")
		b.ReportMetric(perOrder/avgJSON, "rss/json")
	}
}

// runReady runs the service binary with cfg until /readyz answers 200,
// waits for it to settle, and stops it. It returns how long it took to be
// ready and its RSS then.
func runReady(b *testing.B, bin string, cfg config.Config) (time.Duration, uint64) {
	cfg.HTTP.Addr = freeAddr(b)
	start := time.Now()
	c := startChild(b, bin, env(cfg))
	eventually(b, "the service to be ready", 2*time.Minute, func() bool {
		resp, err := http.Get("http://" + cfg.HTTP.Addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	took := time.Since(start)
	time.Sleep(3 * time.Second)
	rss := residentBytes(b, c.cmd.Process.Pid)
	stopChild(b, c)
	return took, rss
}

// residentBytes is the process's resident set size, from /proc.
func residentBytes(tb testing.TB, pid int) uint64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	tb.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
