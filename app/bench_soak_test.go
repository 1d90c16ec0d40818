package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// soakDuration is BENCH_SOAK, how long the soak ingests and reads (default
// 10 minutes).
func soakDuration(b *testing.B) time.Duration {
	d := 10 * time.Minute
	if v := os.Getenv("BENCH_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil || d <= 0 {
			b.Fatalf("BENCH_SOAK: want a positive duration, got %q", v)
		}
	}
	return d
}

// soakRate is how many orders a second the producer is asked to send during
// the soak (its -interval); it sends fewer when the machine cannot keep up.
const soakRate = 1000

// soakSample is one look at the service during the soak.
type soakSample struct {
	at         time.Duration
	stored     float64
	rss        uint64
	goroutines float64
	heap       float64 // bytes of live and not yet collected objects
	reads      int64
}

// BenchmarkSoak runs the service binary (default config: 1,000 orders
// cached) for BENCH_SOAK (default 10 minutes) while the producer binary
// sends it soakRate orders a second and 4 readers ask for orders without
// pause: the newest ones (cache hits) and ones read early on, evicted since
// (database reads). Every 30 s it records stored orders, RSS, goroutines
// and reads. It fails on any read that is not 200, any order not stored
// (or stored as anything but new), and any error in the service's log; RSS,
// heap and goroutines are reported, first after warm-up (the first minute)
// next to the highest and the last. At the end the producer is stopped and
// the soak waits for what it sent to be stored. Run with -benchtime 1x.
func BenchmarkSoak(b *testing.B) {
	d := soakDuration(b)
	service, producer := buildBinary(b), buildPackage(b, "../producer")
	for range b.N {
		brokers := kafkatest.Brokers(b)
		cfg := testConfig(b, brokers)
		cfg.Kafka.BatchWait = 50 * time.Millisecond // the default
		cfg.Log.Level = "info"
		kafkatest.CreateTopics(b, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
		base := "http://" + cfg.HTTP.Addr
		svc := startChild(b, service, env(cfg))
		eventually(b, "the service to be ready", time.Minute, func() bool {
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})

		start := time.Now()
		prod := startChild(b, producer, env(cfg), "-interval", (time.Second / soakRate).String(), "-seed", "5")

		var reads, readErrors atomic.Int64
		var firstError atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		pool := &uidPool{}
		wg.Go(func() { pool.refresh(base, stop) })
		for range 4 {
			wg.Go(func() {
				client := &http.Client{Timeout: 10 * time.Second}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					uid, ok := pool.pick(i)
					if !ok {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					resp, err := client.Get(base + "/api/getOrder?OrderUID=" + uid)
					reads.Add(1)
					if err != nil || resp.StatusCode != http.StatusOK {
						readErrors.Add(1)
						firstError.CompareAndSwap(nil, fmt.Sprintf("GET %s: %v %v", uid, err, resp))
					}
					if resp != nil {
						resp.Body.Close()
					}
				}
			})
		}

		var samples []soakSample
		look := func() {
			samples = append(samples, soakSample{
				at:         time.Since(start).Round(time.Second),
				stored:     metricOrZero(base, `orders_ingested_total{outcome="stored"}`),
				rss:        residentBytes(b, svc.cmd.Process.Pid),
				goroutines: metricOrZero(base, "go_goroutines"),
				heap:       metricOrZero(base, "go_memstats_heap_alloc_bytes"),
				reads:      reads.Load(),
			})
		}
		tick := time.NewTicker(30 * time.Second)
		for time.Since(start) < d {
			<-tick.C
			look()
		}
		tick.Stop()
		close(stop)
		wg.Wait()
		soaked := time.Since(start) // to the first look past d

		// Stopped, the producer exits once the broker has acknowledged
		// every order it sent.
		if err := prod.stop(b, syscall.SIGINT, time.Minute); err != nil {
			b.Errorf("producer: %v\n%s", err, prod.out)
		}
		total := int(kafkatest.Produced(b, brokers, cfg.Kafka.Topic))
		eventually(b, "every order stored", 2*time.Minute, func() bool {
			return metricOrZero(base, `orders_ingested_total{outcome="stored"}`) >= float64(total)
		})
		look()
		for _, outcome := range []string{"duplicate", "invalid", "conflict"} {
			if n := metricOrZero(base, `orders_ingested_total{outcome="`+outcome+`"}`); n != 0 {
				b.Errorf("%v orders ingested as %s, want 0", n, outcome)
			}
		}
		if err := svc.stop(b, syscall.SIGTERM, time.Minute); err != nil {
			b.Errorf("service exit: %v", err)
		}
		for _, line := range strings.Split(svc.out.String(), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				b.Errorf("service logged an error: %s", line)
			}
		}
		if o, _ := counts(b, openStore(b, cfg.Postgres.DSN)); o != int64(total) {
			b.Errorf("the database holds %d orders, want %d", o, total)
		}
		if n := readErrors.Load(); n != 0 {
			b.Errorf("%d of %d reads failed; the first: %v", n, reads.Load(), firstError.Load())
		}
		reportSoak(b, samples, total, reads.Load(), readErrors.Load(), soaked)
	}
}

// reportSoak prints the samples (to stdout: the benchmark's log keeps only
// ten lines) and logs the drift after warm-up (the first minute).
func reportSoak(b *testing.B, samples []soakSample, total int, reads, readErrors int64, d time.Duration) {
	fmt.Printf("soak: %8s %8s %8s %9s %11s %10s\n", "at", "stored", "RSS MiB", "heap MiB", "goroutines", "reads")
	var warm *soakSample
	var peakRSS uint64
	var minG, maxG float64
	for i := range samples {
		s := &samples[i]
		fmt.Printf("soak: %8s %8.0f %8d %9.0f %11.0f %10d\n", s.at, s.stored, s.rss>>20, s.heap/(1<<20), s.goroutines, s.reads)
		if s.at < time.Minute {
			continue
		}
		if warm == nil {
			warm, minG, maxG = s, s.goroutines, s.goroutines
		}
		peakRSS = max(peakRSS, s.rss)
		minG, maxG = min(minG, s.goroutines), max(maxG, s.goroutines)
	}
	if warm == nil {
		b.Logf("soak shorter than the warm-up minute: no drift to report")
		return
	}
	last := samples[len(samples)-1]
	b.Logf("soak %s: %d orders stored, %d reads (%.0f/s), %d read errors", d, total, reads, float64(reads)/d.Seconds(), readErrors)
	b.Logf("after warm-up: RSS %d MiB at %s, highest %d MiB, last %d MiB; goroutines %.0f to %.0f",
		warm.rss>>20, warm.at, peakRSS>>20, last.rss>>20, minG, maxG)
	b.ReportMetric(float64(warm.rss>>20), "warm-rss-MiB")
	b.ReportMetric(float64(peakRSS>>20), "peak-rss-MiB")
	b.ReportMetric(float64(last.rss>>20), "last-rss-MiB")
	b.ReportMetric(maxG-minG, "goroutine-spread")
	b.ReportMetric(float64(readErrors), "read-errors")
}

// uidPool holds the uids the soak's readers ask for: the newest, refreshed
// every second from the listing, and the first ones seen, long evicted.
type uidPool struct {
	mu     sync.Mutex
	newest []string
	old    []string
}

func (p *uidPool) refresh(base string, stop <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var page struct {
			Orders []struct {
				OrderUID string `json:"order_uid"`
			} `json:"orders"`
		}
		if resp, err := http.Get(base + "/api/orders?limit=100"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
		}
		p.mu.Lock()
		p.newest = p.newest[:0]
		for _, o := range page.Orders {
			p.newest = append(p.newest, o.OrderUID)
			if len(p.old) < 500 {
				p.old = append(p.old, o.OrderUID)
			}
		}
		p.mu.Unlock()
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// pick is the i-th reader's next uid: nine in ten from the newest.
func (p *uidPool) pick(i int) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i%10 == 9 && len(p.old) > 0 {
		return p.old[i/10%len(p.old)], true
	}
	if len(p.newest) == 0 {
		return "", false
	}
	return p.newest[i%len(p.newest)], true
}
