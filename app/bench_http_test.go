package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/web"
)

// load is what one side of a pair measured over all its rounds.
type load struct {
	latencies []time.Duration // sorted once summed
	errors    int
	elapsed   time.Duration
}

func (l load) rps() float64 { return float64(len(l.latencies)) / l.elapsed.Seconds() }

// pct is the p-th quantile of the latencies.
func (l load) pct(p float64) time.Duration {
	if len(l.latencies) == 0 {
		return 0
	}
	return l.latencies[min(len(l.latencies)-1, int(float64(len(l.latencies))*p))]
}

func (l load) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, %d errors", l.rps(), l.pct(0.50), l.pct(0.99), l.errors)
}

// loadDuration is how long each side of a pair is loaded in all
// (BENCH_HTTP_DURATION, default 10s).
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

// target is one side of a pair: an address, the paths to read in turn and
// the Authorization header to send with each request (none when empty).
type target struct {
	addr          string
	paths         []string
	authorization string
}

// pairRounds is how many turns each side of a pair gets: the sides alternate
// so that whatever else the machine does weighs on both alike.
const pairRounds = 10

// compare loads each target for d in all, in pairRounds alternating turns,
// with conns connections, and returns what each measured.
func compare(d time.Duration, conns int, targets ...target) []load {
	out := make([]load, len(targets))
	for range pairRounds {
		for i, t := range targets {
			l := hammer(t, conns, d/pairRounds)
			out[i].latencies = append(out[i].latencies, l.latencies...)
			out[i].errors += l.errors
			out[i].elapsed += l.elapsed
		}
	}
	for i := range out {
		slices.Sort(out[i].latencies)
	}
	return out
}

// hammer is a closed-loop load generator like wrk: conns connections, each
// sending the next request when the last answer came, for d, over the
// target's paths in turn. Any answer but 200 counts as an error.
func hammer(t target, conns int, d time.Duration) load {
	addr, paths := t.addr, t.paths
	client := &fasthttp.HostClient{Addr: addr, MaxConns: conns}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	var out load
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
			if t.authorization != "" {
				req.Header.Set(fasthttp.HeaderAuthorization, t.authorization)
			}
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
			out.latencies = append(out.latencies, lat...)
			out.errors += bad
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	return out
}

// serveBare runs a bare Fiber app with the given config and routes on a
// free port.
func serveBare(b *testing.B, cfg fiber.Config, routes func(app *fiber.App)) string {
	cfg.DisableStartupMessage = true
	app := fiber.New(cfg)
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
func servedOrders(b *testing.B, n, capacity int) (*service, config.Config, []string, map[string][]byte) {
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
	return svc, cfg, uids, bodies
}

func apiPaths(uids []string) []string {
	paths := make([]string, len(uids))
	for i, u := range uids {
		paths[i] = "/api/getOrder?OrderUID=" + u
	}
	return paths
}

// answerHeaders is the header the service answers path with, less what
// the server writes itself (Date, Content-Length).
func answerHeaders(b *testing.B, url string) http.Header {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	h := resp.Header.Clone()
	h.Del("Date")
	h.Del("Content-Length")
	return h
}

// BenchmarkHTTPPairs measures the service's reads next to their bounds, each
// pair in the same run on the same orders, 64 connections, each side loaded
// for BENCH_HTTP_DURATION in all, in alternating turns:
//   - cached GET /api/getOrder vs bare Fiber serving the same bytes from a
//     map: the same body and headers, under the service's server limits
//     (web.ServerLimits); and, for scale, vs Fiber with its defaults sending
//     only the body and its content type;
//   - the order page (HTML) vs the same JSON endpoint;
//   - cache-miss GET (cache off) vs a bare Fiber handler doing one pgx point query;
//   - signed-in vs unsigned cached GET /api/getOrder: a second instance on the
//     same database with http.basic_auth_users set (a bcrypt hash at the
//     default cost), its client sending the same right credentials with
//     every request, as browsers and scripts do; goal at least 0.8x.
//
// Run with -benchtime 1x; the figures are in the log and as metrics.
func BenchmarkHTTPPairs(b *testing.B) {
	const orders, conns = 1000, 64
	d := loadDuration(b)
	for range b.N {
		b.Run("cached", func(b *testing.B) {
			svc, _, uids, bodies := servedOrders(b, orders, orders)
			header := answerHeaders(b, svc.base+apiPaths(uids)[0])
			sameBytes := func(app *fiber.App) {
				app.Get("/api/getOrder", func(c *fiber.Ctx) error {
					body, ok := bodies[c.Query("OrderUID")]
					if !ok {
						return c.SendStatus(404)
					}
					for k, vs := range header {
						c.Set(k, vs[0])
					}
					return c.Send(body)
				})
			}
			same := serveBare(b, web.ServerLimits(), sameBytes)
			sameNoLimits := serveBare(b, fiber.Config{}, sameBytes)
			plain := serveBare(b, fiber.Config{}, func(app *fiber.App) {
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
			pages := make([]string, len(uids))
			for i, u := range uids {
				pages[i] = "/orders/" + u
			}
			loads := compare(d, conns, target{addr: addr, paths: apiPaths(uids)}, target{addr: same, paths: apiPaths(uids)},
				target{addr: sameNoLimits, paths: apiPaths(uids)}, target{addr: plain, paths: apiPaths(uids)}, target{addr: addr, paths: pages})
			got, bound, noLimits, fiberDefaults, page := loads[0], loads[1], loads[2], loads[3], loads[4]
			b.Logf("cached GET /api/getOrder:           %s", got)
			b.Logf("bare Fiber, same bytes and limits:  %s (ratio %.2f)", bound, got.rps()/bound.rps())
			b.Logf("bare Fiber, same bytes, no limits:  %s (ratio %.2f)", noLimits, got.rps()/noLimits.rps())
			b.Logf("bare Fiber, defaults, body only:    %s (ratio %.2f)", fiberDefaults, got.rps()/fiberDefaults.rps())
			b.Logf("order page (HTML):                  %s (%.2f of the JSON endpoint)", page, page.rps()/got.rps())
			b.ReportMetric(got.rps(), "rps")
			b.ReportMetric(bound.rps(), "bare-rps")
			b.ReportMetric(got.rps()/bound.rps(), "ratio")
			b.ReportMetric(noLimits.rps(), "no-limits-rps")
			b.ReportMetric(fiberDefaults.rps(), "defaults-rps")
			b.ReportMetric(float64(got.pct(0.99).Microseconds())/1000, "p99-ms")
			b.ReportMetric(page.rps(), "page-rps")
		})
		b.Run("miss", func(b *testing.B) {
			svc, cfg, uids, _ := servedOrders(b, orders, 0)
			pool, err := pgxpool.New(context.Background(), cfg.Postgres.DSN)
			if err != nil {
				b.Fatal(err)
			}
			defer pool.Close()
			bare := serveBare(b, web.ServerLimits(), func(app *fiber.App) {
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
			loads := compare(d, conns, target{addr: svc.base[len("http://"):], paths: apiPaths(uids)}, target{addr: bare, paths: apiPaths(uids)})
			got, bound := loads[0], loads[1]
			b.Logf("cache-miss GET /api/getOrder: %s", got)
			b.Logf("bare Fiber + one pgx query:   %s", bound)
			b.Logf("ratio %.2f", got.rps()/bound.rps())
			b.ReportMetric(got.rps(), "rps")
			b.ReportMetric(bound.rps(), "bare-rps")
			b.ReportMetric(got.rps()/bound.rps(), "ratio")
		})
		b.Run("signed-in", func(b *testing.B) {
			open, cfg, uids, _ := servedOrders(b, orders, orders)
			const user, password = "bench", "bench-password"
			hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
			if err != nil {
				b.Fatal(err)
			}
			cfg.HTTP.Addr = freeAddr(b)
			cfg.HTTP.BasicAuthUsers = map[string]string{user: string(hash)}
			signed := startService(b, cfg) // its cache is warmed from the database
			eventually(b, "the signed-in instance's cache to hold every order", time.Minute, func() bool {
				return metric(b, signed.base, "orders_cache_entries") == float64(orders)
			})
			authorization := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
			// The first request pays bcrypt; what is measured is every one
			// after it. Unsigned, the instance must refuse.
			if status := getWith(b, signed.base+apiPaths(uids)[0], authorization); status != 200 {
				b.Fatalf("signed-in GET = %d, want 200", status)
			}
			if status := getWith(b, signed.base+apiPaths(uids)[0], ""); status != 401 {
				b.Fatalf("unsigned GET of the signed-in instance = %d, want 401", status)
			}
			loads := compare(d, conns,
				target{addr: signed.base[len("http://"):], paths: apiPaths(uids), authorization: authorization},
				target{addr: open.base[len("http://"):], paths: apiPaths(uids)})
			got, bound := loads[0], loads[1]
			b.Logf("signed-in cached GET /api/getOrder: %s", got)
			b.Logf("unsigned cached GET /api/getOrder:  %s", bound)
			b.Logf("ratio %.2f (goal at least 0.80)", got.rps()/bound.rps())
			b.ReportMetric(got.rps(), "rps")
			b.ReportMetric(bound.rps(), "unsigned-rps")
			b.ReportMetric(got.rps()/bound.rps(), "ratio")
			b.ReportMetric(float64(got.pct(0.99).Microseconds())/1000, "p99-ms")
		})
	}
}

// getWith sends GET url with the Authorization header (none when empty) and
// returns the status.
func getWith(b *testing.B, url, authorization string) int {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
