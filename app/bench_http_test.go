package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"

	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
)

// load is the result of one load run.
type load struct {
	requests, errors int
	rps              float64
	p50, p99         time.Duration
}

func (l load) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, %d errors", l.rps, l.p50, l.p99, l.errors)
}

// loadDuration is how long each side of a pair is loaded (BENCH_HTTP_DURATION,
// default 10s).
func loadDuration(b *testing.B) time.Duration {
	d := 10 * time.Second
	if v := os.Getenv("BENCH_HTTP_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatalf("BENCH_HTTP_DURATION: %v", err)
		}
	}
	return d
}

// hammer is a closed-loop load generator like wrk: conns connections, each
// sending the next request when the last answer came, for d, over the paths
// in turn. Any answer but 200 counts as an error.
func hammer(addr string, paths []string, conns int, d time.Duration) load {
	client := &fasthttp.HostClient{Addr: addr, MaxConns: conns}
	var mu sync.Mutex
	var all []time.Duration
	var errs int
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			lat := make([]time.Duration, 0, 1<<16)
			bad := 0
			for i := w; time.Now().Before(deadline); i++ {
				req.SetRequestURI("http://" + addr + paths[i%len(paths)])
				t0 := time.Now()
				err := client.Do(req, resp)
				lat = append(lat, time.Since(t0))
				if err != nil || resp.StatusCode() != 200 {
					bad++
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errs += bad
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	return load{requests: len(all), errors: errs, rps: float64(len(all)) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99)}
}

// serveBare runs a bare Fiber app with the given routes on a free port.
func serveBare(b *testing.B, routes func(app *fiber.App)) string {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	routes(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	b.Cleanup(func() { _ = app.Shutdown() })
	return ln.Addr().String()
}

// servedOrders starts the service with n generated orders consumed and
// served, and returns it with their uids and the JSON it serves for each.
func servedOrders(b *testing.B, n, capacity int) (*service, string, []string, map[string][]byte) {
	brokers := kafkatest.Brokers(b)
	cfg := testConfig(b, brokers)
	cfg.Cache.Capacity = capacity
	kafkatest.CreateTopics(b, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	gen := fake.New(7)
	var msgs []kafkatest.Message
	var uids []string
	for i := 0; i < n; i++ {
		uid, raw := gen.OrderJSON()
		uids = append(uids, uid)
		msgs = append(msgs, kafkatest.Message{Key: []byte(uid), Value: raw})
	}
	kafkatest.Produce(b, brokers, cfg.Kafka.Topic, msgs...)
	svc := startService(b, cfg)
	eventually(b, "the orders to be stored", 2*time.Minute, func() bool {
		return metric(b, svc.base, `orders_ingested_total{outcome="stored"}`) == float64(n)
	})
	bodies := map[string][]byte{}
	for _, uid := range uids {
		status, _, body := get(b, svc.base+"/api/getOrder?OrderUID="+uid)
		if status != 200 {
			b.Fatalf("GET %s = %d", uid, status)
		}
		bodies[uid] = body
	}
	return svc, cfg.Postgres.DSN, uids, bodies
}

func apiPaths(uids []string) []string {
	paths := make([]string, len(uids))
	for i, u := range uids {
		paths[i] = "/api/getOrder?OrderUID=" + u
	}
	return paths
}

// BenchmarkHTTPPairs measures the service's reads next to their bounds, each
// pair in the same run on the same orders, 64 connections for
// BENCH_HTTP_DURATION each:
//   - cached GET /api/getOrder vs bare Fiber serving the same bytes from a map;
//   - the order page (HTML) vs the same JSON endpoint;
//   - cache-miss GET (cache off) vs a bare Fiber handler doing one pgx point query.
//
// Run with -benchtime 1x; the figures are in the log and as metrics.
func BenchmarkHTTPPairs(b *testing.B) {
	const orders, conns = 1000, 64
	d := loadDuration(b)
	for range b.N {
		b.Run("cached", func(b *testing.B) {
			svc, _, uids, bodies := servedOrders(b, orders, orders)
			bare := serveBare(b, func(app *fiber.App) {
				app.Get("/api/getOrder", func(c *fiber.Ctx) error {
					body, ok := bodies[c.Query("OrderUID")]
					if !ok {
						return c.SendStatus(404)
					}
					c.Set("Content-Type", "application/json")
					return c.Send(body)
				})
			})
			addr := svc.base[len("http://"):]
			got := hammer(addr, apiPaths(uids), conns, d)
			bound := hammer(bare, apiPaths(uids), conns, d)
			pages := make([]string, len(uids))
			for i, u := range uids {
				pages[i] = "/orders/" + u
			}
			page := hammer(addr, pages, conns, d)
			b.Logf("cached GET /api/getOrder: %s", got)
			b.Logf("bare Fiber, same bytes:   %s", bound)
			b.Logf("ratio %.2f", got.rps/bound.rps)
			b.Logf("order page (HTML):        %s (%.2f of the JSON endpoint)", page, page.rps/got.rps)
			b.ReportMetric(got.rps, "rps")
			b.ReportMetric(bound.rps, "bare-rps")
			b.ReportMetric(float64(got.p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(page.rps, "page-rps")
		})
		b.Run("miss", func(b *testing.B) {
			svc, dsn, uids, _ := servedOrders(b, orders, 0)
			pool, err := pgxpool.New(context.Background(), dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			bare := serveBare(b, func(app *fiber.App) {
				app.Get("/api/getOrder", func(c *fiber.Ctx) error {
					var body []byte
					err := pool.QueryRow(c.UserContext(), `SELECT raw FROM orders WHERE order_uid = $1`, c.Query("OrderUID")).Scan(&body)
					if err != nil {
						return c.SendStatus(500)
					}
					c.Set("Content-Type", "application/json")
					return c.Send(body)
				})
			})
			got := hammer(svc.base[len("http://"):], apiPaths(uids), conns, d)
			bound := hammer(bare, apiPaths(uids), conns, d)
			b.Logf("cache-miss GET /api/getOrder: %s", got)
			b.Logf("bare Fiber + one pgx query:   %s", bound)
			b.Logf("ratio %.2f", got.rps/bound.rps)
			b.ReportMetric(got.rps, "rps")
			b.ReportMetric(bound.rps, "bare-rps")
		})
	}
}
