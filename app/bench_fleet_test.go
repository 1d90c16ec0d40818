package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
)

// BenchmarkFleet runs instances of the service binary in one group on a
// 6-partition topic and sends 100 orders a second, each created at the
// moment it is sent: 20 s with one instance, then two more join; 20 s of
// three, then a fourth joins; 20 s later one of the first three is killed
// with -9, and the flow goes on for 20 s more. It reports, from the database (stored_at minus date_created, same
// clock), how long orders waited to be stored in each phase (p50, p99, max:
// the max is the pause a rebalance caused), and from every instance's
// orders_cache_follow_delay_seconds how long after another instance stored an
// order it was cached (p50, p99 over all instances, interpolated within
// buckets as histogram_quantile does). Run with -benchtime 1x; on Apache
// Kafka with TEST_KAFKA_BROKERS.
func BenchmarkFleet(b *testing.B) {
	for range b.N {
		brokers := kafkatest.Brokers(b)
		f := newFleet(b, brokers, 6)
		f.add()
		ctx, cancel := context.WithCancel(context.Background())
		var (
			wg   sync.WaitGroup
			sent int
		)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent = flow(b, ctx, brokers, f.cfg.Kafka.Topic, 100)
		}()
		start := time.Now()
		time.Sleep(20 * time.Second)
		growAt := time.Now()
		f.add()
		f.add()
		time.Sleep(time.Until(growAt.Add(20 * time.Second)))
		steadyAt := time.Now()
		time.Sleep(20 * time.Second)
		joinAt := time.Now()
		f.add()
		time.Sleep(time.Until(joinAt.Add(20 * time.Second)))
		killAt := time.Now()
		victim := f.members[0]
		if err := victim.c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Until(killAt.Add(20 * time.Second)))
		cancel()
		wg.Wait()
		eventually(b, "every order sent stored", 60*time.Second, func() bool { o, _ := counts(b, f.store); return o == int64(sent) })

		phases := []struct {
			name     string
			from, to time.Time
		}{
			{"steady, 1 instance", start, growAt},
			{"two more join", growAt, steadyAt},
			{"steady, 3 instances", steadyAt, joinAt},
			{"a 4th joins", joinAt, killAt},
			{"one killed -9", killAt, killAt.Add(20 * time.Second)},
		}
		for _, ph := range phases {
			waits := storeWaits(b, f, ph.from, ph.to)
			b.Logf("%-20s %5d orders: stored after p50 %6.1f ms, p99 %7.1f ms, max %7.1f ms", ph.name, len(waits),
				quantile(waits, 0.5), quantile(waits, 0.99), slices.Max(waits))
			key := strings.NewReplacer(" ", "-", ",", "").Replace(ph.name)
			b.ReportMetric(slices.Max(waits), key+"-max-ms")
			b.ReportMetric(quantile(waits, 0.99), key+"-p99-ms")
		}
		var buckets map[float64]float64
		for _, m := range f.live() {
			for le, n := range histogram(b, m.base, "orders_cache_follow_delay_seconds") {
				if buckets == nil {
					buckets = map[float64]float64{}
				}
				buckets[le] += n
			}
		}
		p50, p99 := histogramQuantile(0.5, buckets)*1000, histogramQuantile(0.99, buckets)*1000
		b.Logf("cache follow delay over %d live instances (%.0f orders cached from others): p50 %.1f ms, p99 %.1f ms",
			len(f.live()), buckets[math.Inf(1)], p50, p99)
		b.ReportMetric(p99, "follow-p99-ms")
	}
}

// flow sends one order every 1/perSecond s, each created now, until ctx
// ends, and returns how many were acknowledged.
func flow(b *testing.B, ctx context.Context, brokers []string, topic string, perSecond int) int {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		b.Error(err)
		return 0
	}
	defer p.Close()
	gen := fake.New(77)
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
		o := gen.Order()
		o.DateCreated = time.Now().UTC()
		raw, _ := json.Marshal(o)
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(o.OrderUID), Value: sarama.ByteEncoder(raw)}); err != nil {
			b.Errorf("send: %v", err)
			return n
		}
		n++
	}
}

// storeWaits are, in ms, how long after its creation (its sending) each
// order created in [from, to) was stored.
func storeWaits(b *testing.B, f *fleet, from, to time.Time) []float64 {
	rows, err := f.store.Query(context.Background(), `SELECT extract(epoch FROM stored_at - date_created) * 1000
		FROM orders WHERE date_created >= $1 AND date_created < $2`, from, to)
	if err != nil {
		b.Fatal(err)
	}
	var out []float64
	for rows.Next() {
		var ms float64
		if err := rows.Scan(&ms); err != nil {
			b.Fatal(err)
		}
		out = append(out, ms)
	}
	if len(out) == 0 {
		b.Fatalf("no orders created between %s and %s", from, to)
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []float64, q float64) float64 {
	return sorted[min(len(sorted)-1, int(math.Ceil(q*float64(len(sorted))))-1)]
}

// histogram reads the cumulative buckets of a histogram from /metrics.
func histogram(b *testing.B, base, name string) map[float64]float64 {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	out := map[float64]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le, value, _ := strings.Cut(rest, `"} `)
		bound, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			bound, err = math.Inf(1), nil
		}
		n, err2 := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || err2 != nil {
			b.Fatalf("bad bucket line %q", line)
		}
		out[bound] = n
	}
	return out
}

// histogramQuantile is Prometheus's histogram_quantile over cumulative
// buckets: linear within the bucket the rank falls in.
func histogramQuantile(q float64, buckets map[float64]float64) float64 {
	bounds := make([]float64, 0, len(buckets))
	for le := range buckets {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	total := buckets[math.Inf(1)]
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, le := range bounds {
		if buckets[le] >= rank {
			if math.IsInf(le, 1) {
				return prevBound
			}
			return prevBound + (le-prevBound)*(rank-prevCount)/(buckets[le]-prevCount)
		}
		prevBound, prevCount = le, buckets[le]
	}
	return prevBound
}
