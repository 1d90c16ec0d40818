//go:build fault

// Fault tests: the real service binary as a child process against a real
// PostgreSQL and a Kafka-protocol broker, with crashes, outages and restarts
// during ingestion. Each checks the database and the API afterwards and logs a
// RELIABILITY line with its figures. Run: go test -tags fault -run Fault ./app
package main

import (
	"context"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// workload is a set of generated orders and what the database must hold after.
type workload struct {
	msgs  []kafkatest.Message
	items map[string]int // uid -> item count
}

func newWorkload(t *testing.T, n int, seed int64) workload {
	t.Helper()
	gen := fake.New(seed)
	w := workload{msgs: make([]kafkatest.Message, n), items: make(map[string]int, n)}
	for i := range w.msgs {
		uid, raw := gen.OrderJSON()
		p, err := order.DefaultRules().Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		w.items[uid] = len(p.Order.Items)
		w.msgs[i] = kafkatest.Message{Key: []byte(uid), Value: raw}
	}
	return w
}

// faultConfig is testConfig with the rate limit off, since the checks read
// every order back through the API.
func faultConfig(t *testing.T, brokers []string) (config.Config, []string) {
	cfg := testConfig(t, brokers)
	cfg.Kafka.BatchWait = 10 * time.Millisecond
	return cfg, append(env(cfg), "APP_HTTP_RATE_LIMIT=0")
}

// audit compares the database with the workload: lost is orders missing,
// duplicated is rows beyond one per order and items beyond each order's own.
func audit(t *testing.T, dsn string, w workload) (lost, duplicated int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT order_uid, json_array_length(raw -> 'items') FROM orders`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for rows.Next() {
		var uid string
		var n int
		if err := rows.Scan(&uid, &n); err != nil {
			t.Fatal(err)
		}
		seen[uid]++
		if want, ok := w.items[uid]; ok && n != want {
			duplicated += max(0, n-want)
			lost += max(0, want-n)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for uid := range w.items {
		switch seen[uid] {
		case 0:
			lost++
		case 1:
		default:
			duplicated += seen[uid] - 1
		}
	}
	return lost, duplicated
}

// servedAll reads every order of the workload through the API.
func servedAll(t *testing.T, base string, w workload) {
	t.Helper()
	for _, m := range w.msgs {
		status, _, body := get(t, base+"/api/getOrder?OrderUID="+url.QueryEscape(string(m.Key)))
		if status != 200 || !jsonEqual(t, body, m.Value) {
			t.Fatalf("order %s not served as produced: %d", m.Key, status)
		}
	}
}

func storedCount(t *testing.T, dsn string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return -1 // the database may be down on purpose
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil {
		return -1
	}
	return n
}

// anyRedelivery is wantRedelivered for a fault whose redeliveries depend on
// timing the test does not control (a broker restart may or may not cut a
// commit); every redelivered message is still checked to be a no-op.
const anyRedelivery = -1

// reliability logs the RELIABILITY line and checks it: nothing lost or
// duplicated, nothing parked (every workload order is valid), and, when the
// test knows it, exactly the redeliveries the fault must cause.
func reliability(t *testing.T, messages, lost, duplicated int, redelivered float64, wantRedelivered int, recover time.Duration, dlq int) {
	t.Helper()
	t.Logf("RELIABILITY | %s | messages=%d | lost=%d | duplicated=%d | redelivered=%d | recover_s=%.1f | dlq=%d",
		t.Name(), messages, lost, duplicated, int(redelivered), recover.Seconds(), dlq)
	if lost != 0 || duplicated != 0 {
		t.Errorf("%d lost, %d duplicated; want 0 and 0", lost, duplicated)
	}
	if dlq != 0 {
		t.Errorf("%d valid orders parked in the DLQ, want 0", dlq)
	}
	if wantRedelivered != anyRedelivery && int(redelivered) != wantRedelivered {
		t.Errorf("%d messages redelivered, want %d", int(redelivered), wantRedelivered)
	}
}

func dlqCount(t *testing.T, brokers []string, topic string) int {
	return len(kafkatest.ReadN(t, brokers, topic, 1<<30, 2*time.Second))
}

func TestFaultKill9DuringIngestion(t *testing.T) {
	bin := buildBinary(t)
	brokers := kafkatest.Brokers(t)
	cfg, environ := faultConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	w := newWorkload(t, 20000, 11)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, w.msgs...)

	first := startChild(t, bin, environ)
	eventually(t, "ingestion under way", 60*time.Second, func() bool { return storedCount(t, cfg.Postgres.DSN) >= 3000 })
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	atKill := storedCount(t, cfg.Postgres.DSN)
	// The restarted service starts from the committed offsets: exactly the
	// orders stored after the last commit come again.
	committed := kafkatest.CommittedSum(t, brokers, cfg.Kafka.Group, cfg.Kafka.Topic)

	restarted := time.Now()
	startChild(t, bin, environ)
	eventually(t, "all 20,000 stored after kill -9", 120*time.Second, func() bool {
		return storedCount(t, cfg.Postgres.DSN) == int64(len(w.msgs))
	})
	recover := time.Since(restarted)
	base := "http://" + cfg.HTTP.Addr
	eventually(t, "the restarted service to catch up", 30*time.Second, func() bool {
		return metric(t, base, "orders_consumer_lag") == 0 &&
			metric(t, base, `orders_ingested_total{outcome="stored"}`) == float64(int64(len(w.msgs))-atKill)
	})
	servedAll(t, base, w)
	lost, dup := audit(t, cfg.Postgres.DSN, w)
	t.Logf("killed with %d of %d stored, %d committed", atKill, len(w.msgs), committed)
	reliability(t, len(w.msgs), lost, dup, metric(t, base, `orders_ingested_total{outcome="duplicate"}`), int(atKill-committed), recover, dlqCount(t, brokers, cfg.Kafka.DLQTopic))
}

func TestFaultPostgresDownDuringIngestion(t *testing.T) {
	cluster := pgtest.Cluster(t)
	bin := buildBinary(t)
	brokers := kafkatest.Brokers(t)
	cfg, environ := faultConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	w := newWorkload(t, 10000, 12)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, w.msgs...)
	base := "http://" + cfg.HTTP.Addr

	svc := startChild(t, bin, environ)
	eventually(t, "ingestion under way", 60*time.Second, func() bool { return storedCount(t, cfg.Postgres.DSN) >= 1000 })
	ctx := context.Background()
	down := time.Now()
	if err := cluster.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/readyz 503 while the database is down", 15*time.Second, func() bool {
		status, _, _ := get(t, base+"/readyz")
		return status == 503
	})
	_, _, body := get(t, base+"/readyz")
	if !strings.Contains(string(body), "database") {
		t.Errorf("/readyz does not name the database check: %s", body)
	}
	if status, _, _ := get(t, base+"/healthz"); status != 200 {
		t.Errorf("/healthz = %d while the database is down, want 200", status)
	}
	// Lag counts what waits while storing fails: the whole backlog, read from
	// the broker every 5 s, not the last value a stored batch left.
	var lag float64
	eventually(t, "lag to count the orders waiting while the database is down", 15*time.Second, func() bool {
		lag = metric(t, base, "orders_consumer_lag")
		return lag > 0
	})
	t.Logf("orders_consumer_lag %v while the database is down", lag)
	time.Sleep(time.Until(down.Add(6 * time.Second))) // the outage lasts at least 6 s
	if err := cluster.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	eventually(t, "/readyz 200 after the database is back", 60*time.Second, func() bool {
		status, _, _ := get(t, base+"/readyz")
		return status == 200
	})
	t.Logf("/readyz 200 %.1f s after the database came back", time.Since(up).Seconds())
	eventually(t, "all 10,000 stored", 120*time.Second, func() bool {
		return storedCount(t, cfg.Postgres.DSN) == int64(len(w.msgs))
	})
	recover := time.Since(up)
	select {
	case err := <-svc.done:
		t.Fatalf("the service exited during the outage: %v\n%s", err, svc.out)
	default:
	}
	eventually(t, "lag back to 0", 15*time.Second, func() bool { return metric(t, base, "orders_consumer_lag") == 0 })
	servedAll(t, base, w)
	lost, dup := audit(t, cfg.Postgres.DSN, w)
	t.Logf("database down for %.1f s", up.Sub(down).Seconds())
	// The service was not restarted and never committed past a stored order.
	reliability(t, len(w.msgs), lost, dup, metric(t, base, `orders_ingested_total{outcome="duplicate"}`), 0, recover, dlqCount(t, brokers, cfg.Kafka.DLQTopic))
}

func TestFaultBrokerRestartDuringIngestion(t *testing.T) {
	b := restartableBroker(t)
	bin := buildBinary(t)
	brokers := b.addrs()
	cfg, environ := faultConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	w := newWorkload(t, 10000, 13)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, w.msgs...)
	base := "http://" + cfg.HTTP.Addr

	svc := startChild(t, bin, environ)
	eventually(t, "ingestion under way", 60*time.Second, func() bool { return storedCount(t, cfg.Postgres.DSN) >= 1000 })
	restartAt := time.Now()
	if err := b.restart(context.Background()); err != nil {
		t.Fatalf("restart broker: %v", err)
	}
	t.Logf("broker %s restarted in %.1f s", b.kind(), time.Since(restartAt).Seconds())
	eventually(t, "all 10,000 stored after the broker restart", 180*time.Second, func() bool {
		return storedCount(t, cfg.Postgres.DSN) == int64(len(w.msgs))
	})
	recover := time.Since(restartAt)
	select {
	case err := <-svc.done:
		t.Fatalf("the service exited during the broker restart: %v\n%s", err, svc.out)
	default:
	}
	eventually(t, "/readyz 200 after the broker restart", 60*time.Second, func() bool {
		status, _, _ := get(t, base+"/readyz")
		return status == 200
	})
	servedAll(t, base, w)
	lost, dup := audit(t, cfg.Postgres.DSN, w)
	reliability(t, len(w.msgs), lost, dup, metric(t, base, `orders_ingested_total{outcome="duplicate"}`), anyRedelivery, recover, dlqCount(t, b.addrs(), cfg.Kafka.DLQTopic))
}

func TestFaultSIGTERMDuringIngestion(t *testing.T) {
	bin := buildBinary(t)
	brokers := kafkatest.Brokers(t)
	cfg, environ := faultConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	w := newWorkload(t, 20000, 14)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, w.msgs...)

	first := startChild(t, bin, environ)
	eventually(t, "ingestion under way", 60*time.Second, func() bool { return storedCount(t, cfg.Postgres.DSN) >= 3000 })
	sent := time.Now()
	if err := first.stop(t, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v (want 0)\n%s", err, first.out)
	}
	stopTook := time.Since(sent)
	atStop := storedCount(t, cfg.Postgres.DSN)

	restarted := time.Now()
	startChild(t, bin, environ)
	eventually(t, "all stored after restart", 120*time.Second, func() bool {
		return storedCount(t, cfg.Postgres.DSN) == int64(len(w.msgs))
	})
	recover := time.Since(restarted)
	base := "http://" + cfg.HTTP.Addr
	eventually(t, "the restarted service to catch up", 30*time.Second, func() bool {
		return metric(t, base, `orders_ingested_total{outcome="stored"}`) == float64(int64(len(w.msgs))-atStop)
	})
	// A clean stop commits everything it processed: nothing comes again.
	redelivered := metric(t, base, `orders_ingested_total{outcome="duplicate"}`)
	servedAll(t, base, w)
	lost, dup := audit(t, cfg.Postgres.DSN, w)
	t.Logf("exit 0 %.2f s after SIGTERM with %d of %d stored", stopTook.Seconds(), atStop, len(w.msgs))
	reliability(t, len(w.msgs), lost, dup, redelivered, 0, recover, dlqCount(t, brokers, cfg.Kafka.DLQTopic))
}

func TestFaultTwoInstancesAndOneStops(t *testing.T) {
	bin := buildBinary(t)
	brokers := kafkatest.Brokers(t)
	cfg, environA := faultConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 6, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	cfgB := cfg
	cfgB.HTTP.Addr = freeAddr(t)
	environB := append(env(cfgB), "APP_HTTP_RATE_LIMIT=0")
	baseA, baseB := "http://"+cfg.HTTP.Addr, "http://"+cfgB.HTTP.Addr

	a := startChild(t, bin, environA)
	eventually(t, "A ready", 60*time.Second, func() bool { s, _, _, _ := tryGet(baseA + "/readyz"); return s == 200 })
	startChild(t, bin, environB)
	eventually(t, "B ready", 60*time.Second, func() bool { s, _, _, _ := tryGet(baseB + "/readyz"); return s == 200 })

	w := newWorkload(t, 20000, 15)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, w.msgs[:4000]...)
	eventually(t, "both instances to store orders (both own partitions)", 60*time.Second, func() bool {
		return metric(t, baseA, `orders_ingested_total{outcome="stored"}`) > 0 &&
			metric(t, baseB, `orders_ingested_total{outcome="stored"}`) > 0
	})
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, w.msgs[4000:]...)
	eventually(t, "ingestion under way", 60*time.Second, func() bool { return storedCount(t, cfg.Postgres.DSN) >= 8000 })
	stopped := time.Now()
	if err := a.stop(t, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("A's exit after SIGTERM: %v\n%s", err, a.out)
	}
	eventually(t, "B to finish A's partitions", 120*time.Second, func() bool {
		return storedCount(t, cfg.Postgres.DSN) == int64(len(w.msgs))
	})
	recover := time.Since(stopped)
	servedAll(t, baseB, w)
	lost, dup := audit(t, cfg.Postgres.DSN, w)
	// A's SIGTERM commits what it stored; B starts A's partitions there.
	reliability(t, len(w.msgs), lost, dup, metric(t, baseB, `orders_ingested_total{outcome="duplicate"}`), 0, recover, dlqCount(t, brokers, cfg.Kafka.DLQTopic))
}

// Readiness follows the broker: with every broker gone, /readyz answers 503
// naming kafka, and 200 again once the broker is back; an instance that owns
// no partition (two instances, one partition) is ready all the same. The
// contract gives 30 s for each; the test logs how long each took.
func TestFaultReadinessFollowsTheBroker(t *testing.T) {
	b := restartableBroker(t)
	brokers := b.addrs()
	f := newFleet(t, brokers, 1)
	f.add()
	f.add() // owns no partition
	ready := func(m *member) (int, string) {
		s, _, body, err := tryGet(m.base + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		return s, string(body)
	}
	gone := time.Now()
	if err := b.down(); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.members {
		eventually(t, m.base+" 503 naming kafka with the broker gone", 45*time.Second, func() bool {
			s, body := ready(m)
			return s == 503 && strings.Contains(body, "kafka")
		})
		t.Logf("%s: 503 naming kafka %.1f s after the broker went", m.base, time.Since(gone).Seconds())
	}
	time.Sleep(time.Until(gone.Add(45 * time.Second))) // away 45 s in all
	back := time.Now()
	if err := b.up(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.members {
		eventually(t, m.base+" 200 with the broker back", 60*time.Second, func() bool { s, _ := ready(m); return s == 200 })
		t.Logf("%s: 200 %.1f s after the broker came back", m.base, time.Since(back).Seconds())
	}
	gen := fake.New(16)
	want := send(t, b.addrs(), f.cfg.Kafka.Topic, gen, 100, 100)
	eventually(t, "orders sent after the outage stored", 60*time.Second, func() bool {
		o, _ := counts(t, f.store)
		return o == int64(len(want))
	})
}
