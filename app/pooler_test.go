package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres/pgtest"
)

// pooledFleet is a fleet whose instances reach the database through
// PgBouncer in transaction mode (postgres.dsn) and directly for migrations
// and listening (postgres.direct_dsn).
type pooledFleet struct {
	*fleet
	environ []string
}

func newPooledFleet(t *testing.T, brokers []string, partitions int32) *pooledFleet {
	t.Helper()
	cfg := testConfig(t, brokers)
	cfg.Kafka.BatchWait = 10 * time.Millisecond
	// Fewer than the orders sent, so that reads are answered both from the
	// cache and from the database through the pooler.
	cfg.Cache.Capacity = 400
	direct := cfg.Postgres.DSN
	// Two server connections for every instance's pool and the test's own
	// checks: transactions of different instances share them.
	cfg.Postgres.DSN = pgtest.PgBouncer(t, direct, pgtest.BouncerOptions{PoolSize: 2})
	cfg.Postgres.DirectDSN = direct
	kafkatest.CreateTopics(t, brokers, partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	return &pooledFleet{
		fleet:   &fleet{t: t, bin: buildBinary(t), cfg: cfg, store: openStore(t, direct)},
		environ: []string{"APP_POSTGRES_DIRECT_DSN=" + direct, "APP_HTTP_RATE_LIMIT=0"},
	}
}

// start runs an instance on addr and waits until it says ready.
func (f *pooledFleet) start(addr string) *member {
	f.t.Helper()
	cfg := f.cfg
	cfg.HTTP.Addr = addr
	m := &member{base: "http://" + addr, c: startChild(f.t, f.bin, append(env(cfg), f.environ...))}
	eventually(f.t, m.base+" ready", 60*time.Second, func() bool { s, _, _, _ := tryGet(m.base + "/readyz"); return s == 200 })
	return m
}

// restart stops member i with SIGTERM, which must exit 0 within 10 s, and
// starts it again on the same address.
func (f *pooledFleet) restart(i int) {
	f.t.Helper()
	m := f.members[i]
	if err := m.c.stop(f.t, syscall.SIGTERM, 10*time.Second); err != nil {
		f.t.Fatalf("%s: exit after SIGTERM: %v (want 0); output:\n%s", m.base, err, m.c.out)
	}
	f.members[i] = f.start(strings.TrimPrefix(m.base, "http://"))
}

// sum adds up one series over the live members.
func (f *pooledFleet) sum(series string) float64 {
	var n float64
	for _, m := range f.live() {
		n += metricOrZero(m.base, series)
	}
	return n
}

// servesEvery checks that every live member answers every order of msgs
// with the order as produced, and returns how many answers came from the
// database.
func (f *pooledFleet) servesEvery(what string, msgs []kafkatest.Message) (fromDatabase int) {
	f.t.Helper()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for _, m := range f.live() {
		wg.Go(func() {
			var missing []string
			for _, msg := range msgs {
				status, source, body, err := getOrder(m.base, string(msg.Key))
				switch {
				case err != nil:
					f.t.Errorf("%s: %s: GET %s: %v", what, m.base, msg.Key, err)
					return
				case status != 200:
					missing = append(missing, fmt.Sprintf("%s (%d)", msg.Key, status))
				case !jsonEqual(f.t, body, msg.Value):
					f.t.Errorf("%s: %s serves %s differently from what was produced", what, m.base, msg.Key)
				case source == "database":
					mu.Lock()
					fromDatabase++
					mu.Unlock()
				}
			}
			if len(missing) > 0 {
				f.t.Errorf("%s: %s does not serve %d of %d stored orders, e.g. %v",
					what, m.base, len(missing), len(msgs), missing[:min(5, len(missing))])
			}
		})
	}
	wg.Wait()
	return fromDatabase
}

// getOrder asks the API at base for uid.
func getOrder(base, uid string) (status int, source string, body []byte, err error) {
	resp, err := http.Get(base + "/api/orders/" + url.PathEscape(uid))
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Source"), body, err
}

// Three instances through PgBouncer in transaction mode: 1,000 orders are
// ingested, a replay is a no-op, a conflict goes to the DLQ; after one
// instance is restarted with SIGTERM every instance serves every stored
// order and the newest from its cache; orders sent after the restart are
// followed by all. Nothing is lost or stored twice.
func TestFleetThroughTransactionPooler(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newPooledFleet(t, brokers, 6)
	for range 3 {
		f.members = append(f.members, f.start(freeAddr(t)))
	}

	gen := fake.New(16)
	const total = 1000
	items := map[string]int{}
	msgs := generated(t, gen, total, items)
	for i := 0; i < total; i += 100 {
		kafkatest.Produce(t, brokers, f.cfg.Kafka.Topic, msgs[i:i+100]...)
	}
	eventually(t, "1,000 stored", 60*time.Second, func() bool { o, _ := counts(t, f.store); return o == total })
	eventually(t, "1,000 counted as stored", 10*time.Second, func() bool {
		return f.sum(`orders_ingested_total{outcome="stored"}`) == total
	})
	storing := 0
	for _, m := range f.members {
		if metric(t, m.base, `orders_ingested_total{outcome="stored"}`) > 0 {
			storing++
		}
	}
	if storing < 2 {
		t.Fatalf("%d of 3 instances stored orders; the test needs orders stored by others", storing)
	}

	// A replay of the first 200 and a changed copy of one stored order.
	kafkatest.Produce(t, brokers, f.cfg.Kafka.Topic, msgs[:200]...)
	var m map[string]any
	if err := json.Unmarshal(msgs[0].Value, &m); err != nil {
		t.Fatal(err)
	}
	m["customer_id"] = "someone-else"
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	changed := string(b)
	kafkatest.Produce(t, brokers, f.cfg.Kafka.Topic, kafkatest.Message{Key: msgs[0].Key, Value: []byte(changed)})
	eventually(t, "200 duplicates and 1 conflict counted", 30*time.Second, func() bool {
		return f.sum(`orders_ingested_total{outcome="duplicate"}`) == 200 &&
			f.sum(`orders_ingested_total{outcome="conflict"}`) == 1
	})
	dlq := kafkatest.ReadN(t, brokers, f.cfg.Kafka.DLQTopic, 2, 5*time.Second)
	if len(dlq) != 1 || kafkatest.Header(dlq[0], kafka.HeaderErrorKind) != "conflict" || string(dlq[0].Value) != changed {
		t.Fatalf("DLQ holds %d messages, want the changed order alone, as a conflict", len(dlq))
	}
	f.servesEvery("before the restart", msgs)

	f.restart(1)
	if n := f.servesEvery("after one of three was restarted", msgs); n == 0 {
		t.Error("every answer came from a cache; the reads through the pooler were not tested")
	}
	f.actAsOne("after one of three was restarted")

	// Orders sent after the restart are stored once and followed by all.
	later := generated(t, gen, 100, items)
	kafkatest.Produce(t, brokers, f.cfg.Kafka.Topic, later...)
	eventually(t, "1,100 stored", 60*time.Second, func() bool { o, _ := counts(t, f.store); return o == total+100 })
	f.servesEvery("orders sent after the restart", later)
	f.actAsOne("orders sent after the restart")

	storedExactly(t, f.store, items)
	if dlq := kafkatest.ReadN(t, brokers, f.cfg.Kafka.DLQTopic, 2, time.Second); len(dlq) != 1 {
		t.Fatalf("DLQ holds %d messages at the end, want the one conflict", len(dlq))
	}
}
