package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace/orders/modules/order"
)

// Uids the fake knows. storeDown makes the fake fail as a store would; its
// error text must never reach a client.
const (
	cachedUID   = "b563feb7b2b84b6test"
	uncachedUID = "uncached-order_1"
	xssUID      = "xss-order"
	unknownUID  = "no-such-order"
	storeDown   = "store-down"
	panicUID    = "explodes"
	storeSecret = "pq: password authentication failed for user orders at db.internal:5432"
)

// fakeOrders answers like order.Service: records it holds, ErrNotFound for
// the rest, a store failure for storeDown.
type fakeOrders struct {
	mu      sync.Mutex
	records map[string]order.Record
	cached  map[string]bool
	calls   int
}

func (f *fakeOrders) Get(_ context.Context, uid string) (order.Record, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch uid {
	case storeDown:
		return order.Record{}, false, fmt.Errorf("get order %s: %s", uid, storeSecret)
	case panicUID:
		panic("boom: " + storeSecret)
	}
	r, ok := f.records[uid]
	if !ok {
		return order.Record{}, false, fmt.Errorf("get order %s: %w", uid, order.ErrNotFound)
	}
	return r, f.cached[uid], nil
}

func (f *fakeOrders) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fixturePath is the contract's reference order, shared by every package's
// tests; the path is relative to this package's directory.
const fixturePath = "../order/testdata/model.json"

// fixture is the contract's reference order, parsed as the consumer would.
func fixture(t testing.TB) order.Parsed {
	t.Helper()
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := order.DefaultRules().Parse(raw)
	if err != nil {
		t.Fatalf("parse fixture: %v", err)
	}
	return p
}

const xss = `<script>alert(1)</script>`

// withUID is the fixture under another uid, its text fields set by edit.
func withUID(t testing.TB, uid string, edit func(*order.Order)) order.Record {
	t.Helper()
	o := fixture(t).Order
	o.OrderUID, o.Payment.Transaction = uid, uid
	o.Items = append([]order.Item(nil), o.Items...)
	if edit != nil {
		edit(&o)
	}
	raw, err := json.Marshal(&o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := order.DefaultRules().Parse(raw)
	if err != nil {
		t.Fatalf("parse %s: %v", uid, err)
	}
	return p.Record()
}

// testMetrics stands in for app's metrics: the two counters of the contract
// that web reports through its Observer.
type testMetrics struct {
	reg          *prometheus.Registry
	hits, misses prometheus.Counter
}

func newTestMetrics() *testMetrics {
	m := &testMetrics{
		reg:    prometheus.NewRegistry(),
		hits:   prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_cache_hits_total", Help: "hits"}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "orders_cache_misses_total", Help: "misses"}),
	}
	m.reg.MustRegister(m.hits, m.misses)
	return m
}

func (m *testMetrics) Lookup(hit bool) {
	if hit {
		m.hits.Inc()
	} else {
		m.misses.Inc()
	}
}

type testEnv struct {
	app    *fiber.App
	orders *fakeOrders
	m      *testMetrics
	logs   *syncBuffer
	deps   Deps
}

// newApp builds an app on the env's fakes with cfg.
func (e *testEnv) newApp(cfg Config) *fiber.App {
	return NewApp(cfg, e.deps)
}

func newTestEnv(t *testing.T, checks ...Check) *testEnv {
	t.Helper()
	orders := &fakeOrders{
		records: map[string]order.Record{
			cachedUID:   fixture(t).Record(),
			uncachedUID: withUID(t, uncachedUID, nil),
			xssUID: withUID(t, xssUID, func(o *order.Order) {
				o.Delivery.Address = xss
				o.Items[0].Name = xss
			}),
		},
		cached: map[string]bool{cachedUID: true, xssUID: true},
	}
	logs := &syncBuffer{}
	m := newTestMetrics()
	env := &testEnv{orders: orders, m: m, logs: logs}
	env.deps = Deps{
		Orders:   orders,
		Search:   &fakeSearch{orders: orders},
		Recent:   &fakeRecent{orders: orders},
		Parked:   &fakeParked{},
		Observer: m,
		Metrics:  m.reg,
		Checks:   checks,
		Log:      slog.New(slog.NewJSONHandler(logs, nil)),
	}
	env.app = env.newApp(Config{})
	return env
}

type request struct {
	method, target, body string
	header               map[string]string
}

func get(target string) request { return request{method: http.MethodGet, target: target} }

func getWithBody(target, body string) request {
	return request{method: http.MethodGet, target: target, body: body}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *testEnv) do(t *testing.T, r request) response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.target, body)
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := e.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func mediaType(t *testing.T, resp response) string {
	t.Helper()
	ct := resp.header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ct, err)
	}
	return mt
}

// syncBuffer is a log sink the server's goroutine writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	typeJSON    = "application/json"
	typeProblem = "application/problem+json"
	typeHTML    = "text/html"
	typeText    = "text/plain"
	typeCSS     = "text/css"
	typeJS      = "text/javascript"
)

func TestRoutes(t *testing.T) {
	uid64 := strings.Repeat("a", 64)
	uid65 := strings.Repeat("a", 65)
	tests := []struct {
		name       string
		give       request
		wantStatus int
		wantType   string
	}{
		// API by query
		{"query cached", get("/api/getOrder?OrderUID=" + cachedUID), 200, typeJSON},
		{"query uncached", get("/api/getOrder?OrderUID=" + uncachedUID), 200, typeJSON},
		{"query unknown", get("/api/getOrder?OrderUID=" + unknownUID), 404, typeProblem},
		{"query 64 chars unknown", get("/api/getOrder?OrderUID=" + uid64), 404, typeProblem},
		{"query 65 chars", get("/api/getOrder?OrderUID=" + uid65), 400, typeProblem},
		{"query empty", get("/api/getOrder?OrderUID="), 400, typeProblem},
		{"query space", get("/api/getOrder?OrderUID=a%20b"), 400, typeProblem},
		{"query markup", get("/api/getOrder?OrderUID=%22%3Cx%3E%22"), 400, typeProblem},
		{"query wins over a bad body", getWithBody("/api/getOrder?OrderUID="+cachedUID, "junk"), 200, typeJSON},
		{"no uid anywhere", get("/api/getOrder"), 400, typeProblem},
		{"store down", get("/api/getOrder?OrderUID=" + storeDown), 500, typeProblem},

		// API by JSON body
		{"body cached", getWithBody("/api/getOrder", `{"OrderUID":"`+cachedUID+`"}`), 200, typeJSON},
		{"body with spaces", getWithBody("/api/getOrder", "\n { \"OrderUID\" : \""+uncachedUID+"\" }\n"), 200, typeJSON},
		{"body unknown", getWithBody("/api/getOrder", `{"OrderUID":"`+unknownUID+`"}`), 404, typeProblem},
		{"body not JSON", getWithBody("/api/getOrder", "OrderUID="+cachedUID), 400, typeProblem},
		{"body array", getWithBody("/api/getOrder", `["`+cachedUID+`"]`), 400, typeProblem},
		{"body null", getWithBody("/api/getOrder", `null`), 400, typeProblem},
		{"body uid number", getWithBody("/api/getOrder", `{"OrderUID":1}`), 400, typeProblem},
		{"body uid null", getWithBody("/api/getOrder", `{"OrderUID":null}`), 400, typeProblem},
		{"body other case", getWithBody("/api/getOrder", `{"orderuid":"`+cachedUID+`"}`), 400, typeProblem},
		{"body extra member", getWithBody("/api/getOrder", `{"OrderUID":"`+cachedUID+`","x":1}`), 400, typeProblem},
		{"body trailing data", getWithBody("/api/getOrder", `{"OrderUID":"`+cachedUID+`"} {}`), 400, typeProblem},
		{"body empty uid", getWithBody("/api/getOrder", `{"OrderUID":""}`), 400, typeProblem},
		{"body malformed uid", getWithBody("/api/getOrder", `{"OrderUID":"<x>"}`), 400, typeProblem},

		// API by path
		{"path cached", get("/api/orders/" + cachedUID), 200, typeJSON},
		{"path unknown", get("/api/orders/" + unknownUID), 404, typeProblem},
		{"path space", get("/api/orders/a%20b"), 400, typeProblem},
		{"path markup", get("/api/orders/%22%3Cx%3E%22"), 400, typeProblem},
		{"path 65 chars", get("/api/orders/" + uid65), 400, typeProblem},
		{"path empty", get("/api/orders/"), 400, typeProblem},
		{"path store down", get("/api/orders/" + storeDown), 500, typeProblem},

		// API misc
		{"api unknown route", get("/api/nope"), 404, typeProblem},
		{"api wrong method", request{method: http.MethodPost, target: "/api/getOrder", body: "{}"}, 405, typeProblem},
		{"api QUERY method", request{method: "QUERY", target: "/api/orders/" + cachedUID}, 405, typeProblem},
		{"api panic", get("/api/orders/" + panicUID), 500, typeProblem},

		// Pages
		{"search page", get("/"), 200, typeHTML},
		{"page by query", get("/?OrderUID=" + cachedUID), 200, typeHTML},
		{"page by query, padded with spaces", get("/?OrderUID=%20" + cachedUID + "%0A"), 200, typeHTML},
		{"page by query unknown", get("/?OrderUID=" + unknownUID), 404, typeHTML},
		{"page by query, no match", get("/?OrderUID=a%20b"), 404, typeHTML},
		{"page by query, too long", get("/?OrderUID=" + strings.Repeat("a", 129)), 400, typeHTML},
		{"page by query empty", get("/?OrderUID="), 400, typeHTML},
		{"page by path", get("/orders/" + uncachedUID), 200, typeHTML},
		{"page by path unknown", get("/orders/" + unknownUID), 404, typeHTML},
		{"page by path malformed", get("/orders/%3Cx%3E"), 400, typeHTML},
		{"page by path empty", get("/orders/"), 400, typeHTML},
		{"page store down", get("/orders/" + storeDown), 500, typeHTML},
		{"page panic", get("/orders/" + panicUID), 500, typeHTML},
		{"unknown page", get("/nope"), 404, typeHTML},
		{"stylesheet", get("/static/app.css"), 200, typeCSS},
		{"script", get("/static/app.js"), 200, typeJS},
		{"no such static file", get("/static/nope.js"), 404, typeHTML},
		{"parked page", get("/dlq"), 200, typeHTML},
		{"parked page, bad cursor", get("/dlq?cursor=zz"), 400, typeHTML},

		// Listings
		{"search", get("/api/orders?track_number=WBILMTESTTRACK"), 200, typeJSON},
		{"search, no filter", get("/api/orders"), 200, typeJSON},
		{"search, limit 0", get("/api/orders?limit=0"), 400, typeProblem},
		{"search, limit 101", get("/api/orders?limit=101"), 400, typeProblem},
		{"search, limit abc", get("/api/orders?limit=abc"), 400, typeProblem},
		{"search, bad cursor", get("/api/orders?cursor=%21%21"), 400, typeProblem},
		{"search, store down", get("/api/orders?track_number=" + searchDown), 500, typeProblem},
		{"dlq", get("/api/dlq"), 200, typeJSON},
		{"dlq, limit 0", get("/api/dlq?limit=0"), 400, typeProblem},
		{"dlq, bad cursor", get("/api/dlq?cursor=zz"), 400, typeProblem},
		{"openapi", get("/api/openapi.yaml"), 200, "text/yaml"},

		// Operations
		{"healthz", get("/healthz"), 200, typeText},
		{"readyz", get("/readyz"), 200, typeJSON},
		{"metrics", get("/metrics"), 200, typeText},
	}
	env := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, tt.give)
			if resp.status != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %.300s", resp.status, tt.wantStatus, resp.body)
			}
			if got := mediaType(t, resp); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if tt.wantType == typeProblem {
				assertProblem(t, resp)
			}
			assertSecurityHeaders(t, resp)
			if bytes.Contains(resp.body, []byte("db.internal")) || bytes.Contains(resp.body, []byte("goroutine ")) {
				t.Errorf("the answer shows internals: %.300s", resp.body)
			}
		})
	}
}

// assertProblem checks the contract's promise about every problem answer:
// type, title, status and detail are all there, and status is the HTTP one.
func assertProblem(t *testing.T, resp response) {
	t.Helper()
	var members map[string]any
	if err := json.Unmarshal(resp.body, &members); err != nil {
		t.Fatalf("problem body is not a JSON object: %v: %s", err, resp.body)
	}
	for _, name := range []string{"type", "title", "detail"} {
		if s, ok := members[name].(string); !ok || s == "" {
			t.Errorf("problem member %q = %v, want a non-empty string", name, members[name])
		}
	}
	if status, ok := members["status"].(float64); !ok || int(status) != resp.status {
		t.Errorf("problem status = %v, want the number %d", members["status"], resp.status)
	}
}

func assertSecurityHeaders(t *testing.T, resp response) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	}
	for name, value := range want {
		if got := resp.header.Get(name); got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
}

func TestAPIBodyIsTheRecordJSON(t *testing.T) {
	env := newTestEnv(t)
	for _, uid := range []string{cachedUID, uncachedUID} {
		want := env.orders.records[uid].JSON
		for _, r := range []request{
			get("/api/getOrder?OrderUID=" + uid),
			getWithBody("/api/getOrder", `{"OrderUID":"`+uid+`"}`),
			get("/api/orders/" + uid),
		} {
			resp := env.do(t, r)
			if !bytes.Equal(resp.body, want) {
				t.Errorf("%s body:\n got %s\nwant %s", r.target, resp.body, want)
			}
		}
	}

	// The fixture comes back with the same fields and values as consumed.
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var sent, got any
	if err := json.Unmarshal(raw, &sent); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.do(t, get("/api/orders/"+cachedUID)).body, &got); err != nil {
		t.Fatal(err)
	}
	sentJSON, _ := json.Marshal(sent)
	gotJSON, _ := json.Marshal(got)
	if !bytes.Equal(sentJSON, gotJSON) {
		t.Errorf("served order differs from the fixture:\n got %s\nwant %s", gotJSON, sentJSON)
	}
}

func TestProblemDetails(t *testing.T) {
	tests := []struct {
		name       string
		give       request
		wantDetail string
	}{
		{"unknown", get("/api/orders/" + unknownUID), `No order has the uid "` + unknownUID + `".`},
		{"malformed", get("/api/orders/a%20b"), `"a b" cannot be an order uid: character 2 is a space`},
		{"bad character", get("/api/orders/ab!"), `"ab!" cannot be an order uid: character 3 is '!'`},
		{"too long", get("/api/orders/" + strings.Repeat("a", 65)), "it is 65 characters long, and an order uid is at most 64"},
		{"empty", get("/api/getOrder?OrderUID="), "The order uid is empty"},
		{"missing", get("/api/getOrder"), "No OrderUID: give it in the query (?OrderUID=<uid>)"},
		{"not JSON", getWithBody("/api/getOrder", "nope"), "not a JSON object"},
		{"extra member", getWithBody("/api/getOrder", `{"OrderUID":"a","b":1}`), `member "b"`},
		{"store down", get("/api/orders/" + storeDown), "Try again later"},
	}
	env := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p problem
			if err := json.Unmarshal(env.do(t, tt.give).body, &p); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
		})
	}
}

func TestStoreErrorIsLoggedNotShown(t *testing.T) {
	env := newTestEnv(t)
	for _, target := range []string{"/api/orders/" + storeDown, "/orders/" + storeDown, "/api/orders/" + panicUID} {
		resp := env.do(t, get(target))
		if resp.status != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", target, resp.status)
		}
		for _, leak := range []string{storeSecret, "password", "boom", "panic"} {
			if bytes.Contains(resp.body, []byte(leak)) {
				t.Errorf("%s: body shows %q: %s", target, leak, resp.body)
			}
		}
	}
	logs := env.logs.String()
	if !strings.Contains(logs, storeSecret) {
		t.Errorf("the store error is not in the log:\n%s", logs)
	}
	if !strings.Contains(logs, "boom") {
		t.Errorf("the panic is not in the log:\n%s", logs)
	}
}

func TestMalformedUIDNeverReachesTheStore(t *testing.T) {
	env := newTestEnv(t)
	for _, target := range []string{
		"/api/getOrder?OrderUID=a%20b", "/api/getOrder?OrderUID=", "/api/orders/%3Cx%3E",
		"/?OrderUID=a%20b", "/orders/" + strings.Repeat("x", 65), "/api/getOrder",
	} {
		env.do(t, get(target))
	}
	if n := env.orders.Calls(); n != 0 {
		t.Errorf("store asked %d times, want 0", n)
	}
}

// scrape reads the counters as a Prometheus server would see them.
func scrape(t *testing.T, env *testEnv) map[string]float64 {
	t.Helper()
	resp := env.do(t, get("/metrics"))
	if resp.status != http.StatusOK {
		t.Fatalf("/metrics: status %d", resp.status)
	}
	out := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(resp.body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[name] = v
	}
	return out
}

func TestEachReadCountsOneHitOrMiss(t *testing.T) {
	const hits, misses = "orders_cache_hits_total", "orders_cache_misses_total"
	tests := []struct {
		name       string
		give       request
		wantHits   float64
		wantMisses float64
	}{
		{"api query cached", get("/api/getOrder?OrderUID=" + cachedUID), 1, 0},
		{"api body cached", getWithBody("/api/getOrder", `{"OrderUID":"`+cachedUID+`"}`), 1, 0},
		{"api path uncached", get("/api/orders/" + uncachedUID), 0, 1},
		{"api unknown", get("/api/orders/" + unknownUID), 0, 1},
		{"api store down", get("/api/orders/" + storeDown), 0, 1},
		{"api malformed", get("/api/orders/a%20b"), 0, 0},
		{"api empty", get("/api/getOrder?OrderUID="), 0, 0},
		{"api bad body", getWithBody("/api/getOrder", "x"), 0, 0},
		{"page query cached", get("/?OrderUID=" + cachedUID), 1, 0},
		{"page path uncached", get("/orders/" + uncachedUID), 0, 1},
		{"page unknown", get("/orders/" + unknownUID), 0, 1},
		{"page malformed path", get("/orders/%3Cx%3E"), 0, 0},
		{"page search by track number", get("/?OrderUID=WBILMTESTTRACK"), 0, 1},
		{"page search, several matches, not a uid", get("/?OrderUID=%2B9720000000"), 0, 0},
		{"page search, no match not a uid", get("/?OrderUID=%3Cx%3E"), 0, 0},
		{"search page", get("/"), 0, 0},
		{"api search", get("/api/orders?track_number=WBILMTESTTRACK"), 0, 0},
		{"healthz", get("/healthz"), 0, 0},
	}
	env := newTestEnv(t)
	before := scrape(t, env)
	for _, name := range []string{hits, misses} {
		if v, ok := before[name]; !ok || v != 0 {
			t.Fatalf("%s = %v (present %v) before any read, want 0", name, v, ok)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := scrape(t, env)
			env.do(t, tt.give)
			after := scrape(t, env)
			if d := after[hits] - before[hits]; d != tt.wantHits {
				t.Errorf("hits went up by %v, want %v", d, tt.wantHits)
			}
			if d := after[misses] - before[misses]; d != tt.wantMisses {
				t.Errorf("misses went up by %v, want %v", d, tt.wantMisses)
			}
		})
	}
}

// logRecords parses the JSON log, one record a line.
func logRecords(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

func TestReadyz(t *testing.T) {
	// What a driver says when the database is down: none of it may reach
	// the client.
	const driverErr = "failed to connect to user=orders database=orders: dial tcp 127.0.0.1:5432: connection refused"
	driverWords := []string{"user=", "database=", "orders:", "5432", "127.0.0.1", "dial", "tcp", "connect", "refused"}

	ok := Check{Name: "migrated", Run: func(context.Context) error { return nil }}
	db := Check{Name: "database", Run: func(context.Context) error { return errors.New(driverErr) }}
	slow := Check{Name: "consumer", Run: func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("join group: %w", ctx.Err())
	}}
	// after runs once the budget is spent, and fails because of that; db,
	// run after it, fails for its own reason and is reported as such.
	after := Check{Name: "kafka", Run: func(ctx context.Context) error { return ctx.Err() }}

	tests := []struct {
		name       string
		give       []Check
		wantStatus int
		want       map[string]string
	}{
		{"no checks", nil, 200, nil},
		{"all pass", []Check{ok, ok}, 200, nil},
		{"one fails", []Check{ok, db}, 503, map[string]string{"database": "failed"}},
		{"timeout", []Check{ok, slow, after, db}, 503, map[string]string{"consumer": "timeout", "kafka": "timeout", "database": "failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t, tt.give...)
			resp := env.do(t, get("/readyz"))
			if resp.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.status, tt.wantStatus)
			}
			if mt := mediaType(t, resp); mt != typeJSON {
				t.Errorf("Content-Type = %q, want %q", mt, typeJSON)
			}
			var got readiness
			if err := json.Unmarshal(resp.body, &got); err != nil {
				t.Fatalf("body %s: %v", resp.body, err)
			}
			wantStatus := "ready"
			if tt.wantStatus != 200 {
				wantStatus = "not ready"
			}
			if got.Status != wantStatus {
				t.Errorf("status member = %q, want %q", got.Status, wantStatus)
			}
			if !maps.Equal(got.Checks, tt.want) {
				t.Errorf("checks = %v, want %v", got.Checks, tt.want)
			}
			for _, w := range driverWords {
				if bytes.Contains(resp.body, []byte(w)) {
					t.Errorf("readyz shows driver text %q: %s", w, resp.body)
				}
			}

			// Each failing check is logged once, at warn, with its error.
			logged := make(map[string]int)
			for _, rec := range logRecords(t, env.logs.String()) {
				if rec["msg"] != "readiness check failed" {
					continue
				}
				name, _ := rec["check"].(string)
				logged[name]++
				if rec["level"] != "WARN" {
					t.Errorf("check %q logged at %v, want WARN", name, rec["level"])
				}
				if name == "database" && rec["err"] != driverErr {
					t.Errorf("database check logged err %v, want %q", rec["err"], driverErr)
				}
			}
			for name := range tt.want {
				if logged[name] != 1 {
					t.Errorf("check %q logged %d times, want once", name, logged[name])
				}
			}
			if len(logged) != len(tt.want) {
				t.Errorf("logged checks %v, want only %v", logged, tt.want)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	resp := newTestEnv(t).do(t, get("/healthz"))
	if resp.status != http.StatusOK || string(resp.body) != "ok" {
		t.Errorf("healthz = %d %q, want 200 \"ok\"", resp.status, resp.body)
	}
}
