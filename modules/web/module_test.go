package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/web"
)

type memStore struct{ records map[string]order.Record }

func (s memStore) SaveBatch(context.Context, []order.Parsed) ([]order.Outcome, error) {
	return nil, errors.New("read-only")
}

func (s memStore) Get(_ context.Context, uid string) (order.Record, error) {
	r, ok := s.records[uid]
	if !ok {
		return order.Record{}, fmt.Errorf("get order %s: %w", uid, order.ErrNotFound)
	}
	return r, nil
}

func (s memStore) Newest(context.Context, int) ([]order.Record, error) { return nil, nil }

type nopObserver struct{}

func (nopObserver) Lookup(bool) {}

type noCache struct{}

func (noCache) Put(order.Record) bool           { return false }
func (noCache) Get(string) (order.Record, bool) { return order.Record{}, false }
func (noCache) Capacity() int                   { return 0 }

// dbErr is what a driver says when the database is down; /readyz must not
// show it.
const dbErr = "failed to connect to user=orders database=orders: dial tcp 127.0.0.1:5432: connection refused"

func newDatabaseCheck() web.Check {
	return web.Check{Name: "database", Run: func(context.Context) error { return errors.New(dbErr) }}
}

func newMigratedCheck() web.Check {
	return web.Check{Name: "migrated", Run: func(context.Context) error { return nil }}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func options(t *testing.T, addr string) fx.Option {
	t.Helper()
	raw, err := os.ReadFile("../order/testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	p, err := order.DefaultRules().Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	store := memStore{records: map[string]order.Record{p.Order.OrderUID: p.Record()}}
	return fx.Options(
		fx.NopLogger,
		fx.Supply(web.Config{Addr: addr}),
		fx.Provide(quietLogger),
		fx.Provide(func() web.Observer { return nopObserver{} }),
		fx.Provide(func() prometheus.Gatherer { return prometheus.NewRegistry() }),
		fx.Provide(func() *order.Service { return order.NewService(store, noCache{}) }),
		fx.Provide(web.AsCheck(newDatabaseCheck), web.AsCheck(newMigratedCheck)),
		web.Module,
	)
}

func TestModuleGraph(t *testing.T) {
	if err := fx.ValidateApp(options(t, "127.0.0.1:0")); err != nil {
		t.Fatal(err)
	}
}

// freeAddr finds a port nobody listens on. Another process could take it
// before the module does; that would fail the test loudly, not wrongly.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestModuleServesAndStops(t *testing.T) {
	addr := freeAddr(t)
	app := fx.New(options(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = app.Stop(ctx)
		}
	}()
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}

	// A GET with a body travels over a real connection, not only app.Test.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/getOrder",
		strings.NewReader(`{"OrderUID":"b563feb7b2b84b6test"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"order_uid":"b563feb7b2b84b6test"`) {
		t.Errorf("GET with body = %d %s", resp.StatusCode, body)
	}

	// Readiness checks arrive through the value group.
	resp, err = client.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, &ready); err != nil {
		t.Fatalf("readyz body %s: %v", body, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || ready.Checks["database"] != "failed" || len(ready.Checks) != 1 {
		t.Errorf("readyz = %d %+v, want 503 with the database check only, \"failed\"", resp.StatusCode, ready)
	}
	for _, w := range []string{"user=", "5432", "dial", "refused"} {
		if strings.Contains(string(body), w) {
			t.Errorf("readyz shows driver text %q: %s", w, body)
		}
	}

	// The body limit is enforced by the server before any handler runs; the
	// answer is still a problem. The request only declares its length: the
	// server answers and closes without reading a body, and a client still
	// writing one would race that close.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET /api/getOrder HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", 70<<10); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Type, Title, Detail string
		Status              int
	}
	err = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || err != nil || p.Status != resp.StatusCode || p.Type == "" || p.Title == "" || p.Detail == "" {
		t.Errorf("oversized body = %d %s %+v (%v), want a 413 problem", resp.StatusCode, resp.Header.Get("Content-Type"), p, err)
	}
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("413 X-Content-Type-Options = %q", got)
	}

	if err := app.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Error("the port still accepts connections after stop")
	}
}

func TestModuleStartFailsWhenThePortIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	app := fx.New(options(t, ln.Addr().String()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = app.Start(ctx)
	if err == nil {
		_ = app.Stop(ctx)
		t.Fatal("start succeeded on a taken port")
	}
	if !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("start error %q does not name the address", err)
	}
}
