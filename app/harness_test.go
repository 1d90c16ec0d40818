package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testConfig is a service config on a fresh database, fresh topics and group,
// and a free HTTP port.
func testConfig(t testing.TB, brokers []string) config.Config {
	t.Helper()
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Addr = freeAddr(t)
	cfg.Postgres.DSN = pgtest.DSN(t)
	cfg.Postgres.ConnectTimeout = 20 * time.Second
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Topic = kafkatest.Name("orders")
	cfg.Kafka.DLQTopic = cfg.Kafka.Topic + ".dlq"
	cfg.Kafka.Group = kafkatest.Name("bank")
	cfg.Kafka.BatchWait = 20 * time.Millisecond
	cfg.Log.Level = "warn"
	return cfg
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// env returns cfg as the APP_ variables a child process reads.
func env(cfg config.Config) []string {
	return append(os.Environ(),
		"APP_HTTP_ADDR="+cfg.HTTP.Addr,
		"APP_POSTGRES_DSN="+cfg.Postgres.DSN,
		"APP_POSTGRES_DIRECT_DSN="+cfg.Postgres.DirectDSN,
		"APP_KAFKA_BROKERS="+strings.Join(cfg.Kafka.Brokers, ","),
		"APP_KAFKA_TOPIC="+cfg.Kafka.Topic,
		"APP_KAFKA_DLQ_TOPIC="+cfg.Kafka.DLQTopic,
		"APP_KAFKA_GROUP="+cfg.Kafka.Group,
		"APP_KAFKA_BATCH_WAIT="+cfg.Kafka.BatchWait.String(),
		"APP_CACHE_CAPACITY="+strconv.Itoa(cfg.Cache.Capacity),
		"APP_LOG_LEVEL="+cfg.Log.Level,
	)
}

// service is the whole app running in this process.
type service struct {
	app  *fx.App
	base string
}

func startService(t testing.TB, cfg config.Config) *service {
	t.Helper()
	app := fx.New(Options(cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start service: %v", err)
	}
	s := &service{app: app, base: "http://" + cfg.HTTP.Addr}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *service) stop(t testing.TB) {
	if s.app == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.app.Stop(ctx); err != nil {
		t.Errorf("stop service: %v", err)
	}
	s.app = nil
}

func get(t testing.TB, url string) (int, string, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// tryGet is get for a server that may not be listening yet.
func tryGet(url string) (int, string, []byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, err
}

// metric scrapes /metrics for the value of the series written exactly as
// series (name with its labels).
func metric(t testing.TB, base, series string) float64 {
	t.Helper()
	v, err := readMetric(base, series)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// metricOrZero is metric, but 0 while the service does not answer yet.
func metricOrZero(base, series string) float64 {
	v, _ := readMetric(base, series)
	return v
}

// readMetric reads one series from the service's /metrics at base.
func readMetric(base, series string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %w", series, err)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("metric %s not exposed", series)
}

func eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// openStore opens the service's database for checks of rows.
func openStore(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// counts returns how many orders, and items in their JSON, are stored, read in one snapshot.
// Before the service's first start has migrated, there are none.
func counts(t testing.TB, db *pgxpool.Pool) (orders, items int64) {
	t.Helper()
	err := db.QueryRow(context.Background(),
		"SELECT count(*), coalesce(sum(json_array_length(raw -> 'items')), 0) FROM orders").Scan(&orders, &items)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return orders, items
}

func fixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../modules/order/testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// variant is the fixture under uid, created at the given time.
func variant(t testing.TB, uid string, created time.Time) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t), &m); err != nil {
		t.Fatal(err)
	}
	m["order_uid"] = uid
	m["payment"].(map[string]any)["transaction"] = uid
	m["date_created"] = created.UTC().Format(time.RFC3339)
	b, _ := json.Marshal(m)
	return b
}

func jsonEqual(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}
