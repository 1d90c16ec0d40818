package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/order/fake"
	"github.com/marketplace/orders/modules/postgres"
)

// fleet is several service processes in one group on one database.
type fleet struct {
	t       testing.TB
	bin     string
	cfg     config.Config
	store   *pgxpool.Pool
	members []*member
}

type member struct {
	base string
	c    *child
}

func newFleet(t testing.TB, brokers []string, partitions int32) *fleet {
	cfg := testConfig(t, brokers)
	cfg.Kafka.BatchWait = 10 * time.Millisecond
	kafkatest.CreateTopics(t, brokers, partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	return &fleet{t: t, bin: buildBinary(t), cfg: cfg, store: openStore(t, cfg.Postgres.DSN)}
}

// add starts one more instance and waits until it says ready.
func (f *fleet) add() *member {
	f.t.Helper()
	cfg := f.cfg
	cfg.HTTP.Addr = freeAddr(f.t)
	m := &member{base: "http://" + cfg.HTTP.Addr, c: startChild(f.t, f.bin, env(cfg))}
	f.members = append(f.members, m)
	eventually(f.t, m.base+" ready", 60*time.Second, func() bool { s, _, _, _ := tryGet(m.base + "/readyz"); return s == 200 })
	return m
}

// live are the members that have not been killed.
func (f *fleet) live() []*member {
	var out []*member
	for _, m := range f.members {
		select {
		case <-m.c.exited:
		default:
			out = append(out, m)
		}
	}
	return out
}

// generated makes n valid orders and records each one's item count in items.
func generated(t testing.TB, gen *fake.Generator, n int, items map[string]int) []kafkatest.Message {
	t.Helper()
	msgs := make([]kafkatest.Message, n)
	for i := range msgs {
		uid, raw := gen.OrderJSON()
		p, err := order.DefaultRules().Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		items[uid] = len(p.Order.Items)
		msgs[i] = kafkatest.Message{Key: []byte(uid), Value: raw}
	}
	return msgs
}

// send publishes n generated orders at about perSecond, in tens, and returns
// each one's item count by uid.
func send(t *testing.T, brokers []string, topic string, gen *fake.Generator, n, perSecond int) map[string]int {
	t.Helper()
	items := map[string]int{}
	tick := time.NewTicker(time.Second * 10 / time.Duration(perSecond))
	defer tick.Stop()
	for sent := 0; sent < n; sent += 10 {
		kafkatest.Produce(t, brokers, topic, generated(t, gen, min(10, n-sent), items)...)
		<-tick.C
	}
	return items
}

// storedExactly fails unless the database holds exactly the orders of items,
// each with its own number of items: nothing lost, nothing twice.
func storedExactly(t testing.TB, db *pgxpool.Pool, items map[string]int) {
	t.Helper()
	var want int64
	for _, n := range items {
		want += int64(n)
	}
	orders, stored := counts(t, db)
	if orders != int64(len(items)) || stored != want {
		t.Fatalf("stored %d orders and %d items, want %d and %d (0 lost, 0 duplicated)", orders, stored, len(items), want)
	}
}

// newest are the uids of the n newest stored orders, newest first.
func newest(t testing.TB, db *pgxpool.Pool, n int) []string {
	t.Helper()
	rows, err := db.Query(context.Background(),
		"SELECT order_uid FROM orders ORDER BY date_created DESC, order_uid DESC LIMIT $1", n)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var uid string
		if err := rows.Scan(&uid); err != nil {
			t.Fatal(err)
		}
		out = append(out, uid)
	}
	return out
}

// homeList is the uids the home page lists, top to bottom.
func homeList(t testing.TB, base string) []string {
	t.Helper()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	doc.Find("#recent a.uid").Each(func(_ int, a *goquery.Selection) { out = append(out, strings.TrimSpace(a.Text())) })
	return out
}

// source is the X-Source of the API's answer for uid.
func source(t testing.TB, base, uid string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/orders/" + uid)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s/api/orders/%s = %d", base, uid, resp.StatusCode)
	}
	return resp.Header.Get("X-Source")
}

// actAsOne checks that every live member lists the same newest 20 as the
// database and answers each of the newest 50 from its own cache.
func (f *fleet) actAsOne(what string) {
	f.t.Helper()
	want20 := newest(f.t, f.store, 20)
	for _, m := range f.live() {
		var got []string
		eventually(f.t, what+": "+m.base+" home page lists the newest 20", 10*time.Second, func() bool {
			got = homeList(f.t, m.base)
			return slices.Equal(got, want20)
		})
		missed := 0
		for _, uid := range newest(f.t, f.store, 50) {
			if source(f.t, m.base, uid) != "cache" {
				missed++
			}
		}
		if missed > 0 {
			f.t.Errorf("%s: %s read %d of the newest 50 orders from the database, want all from its cache", what, m.base, missed)
		}
	}
}

// Three instances on one database and a 6-partition topic act as one
// service: each lists the same newest orders and answers them from its own
// cache, whichever instance stored them; so after the listening connections
// are cut while orders flow, and after one instance is killed with -9 and
// another joins. Nothing is lost or stored twice.
func TestFleetActsAsOneService(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	f := newFleet(t, brokers, 6)
	for range 3 {
		f.add()
	}
	gen := fake.New(41)
	want := send(t, brokers, f.cfg.Kafka.Topic, gen, 300, 100)
	eventually(t, "300 stored", 60*time.Second, func() bool { o, _ := counts(t, f.store); return o == 300 })
	storing := 0
	for _, m := range f.members {
		if metric(t, m.base, `orders_ingested_total{outcome="stored"}`) > 0 {
			storing++
		}
	}
	if storing < 2 {
		t.Fatalf("%d of 3 instances stored orders; the test needs orders stored by others", storing)
	}
	f.actAsOne("steady flow")

	// Cut every listening connection while orders flow.
	done := make(chan map[string]int)
	go func() { done <- send(t, brokers, f.cfg.Kafka.Topic, gen, 100, 100) }()
	for range 3 {
		time.Sleep(250 * time.Millisecond)
		if _, err := f.store.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = $1 AND datname = current_database()`, postgres.ListenerName); err != nil {
			t.Fatal(err)
		}
	}
	for uid, n := range <-done {
		want[uid] = n
	}
	eventually(t, "400 stored", 60*time.Second, func() bool { o, _ := counts(t, f.store); return o == 400 })
	for _, m := range f.members {
		eventually(t, m.base+" ready after its listener was cut", 30*time.Second, func() bool {
			s, _, _ := get(t, m.base+"/readyz")
			return s == 200
		})
	}
	f.actAsOne("after the listening connections were cut")

	// One instance killed with -9, a fourth joins.
	if err := f.members[0].c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-f.members[0].c.exited
	f.add()
	for uid, n := range send(t, brokers, f.cfg.Kafka.Topic, gen, 100, 100) {
		want[uid] = n
	}
	eventually(t, "500 stored", 90*time.Second, func() bool { o, _ := counts(t, f.store); return o == 500 })
	f.actAsOne("after a kill -9 and a new instance")

	storedExactly(t, f.store, want)
	if dlq := kafkatest.ReadN(t, brokers, f.cfg.Kafka.DLQTopic, 1, time.Second); len(dlq) != 0 {
		t.Fatalf("valid orders went to the DLQ: %d", len(dlq))
	}
	for _, m := range f.live() {
		if n := metric(t, m.base, "orders_cache_follow_delay_seconds_count"); n == 0 {
			t.Errorf("%s observed no follow delay", m.base)
		}
		fmt.Fprintf(t.Output(), "%s: stored %v, followed %v\n", m.base,
			metric(t, m.base, `orders_ingested_total{outcome="stored"}`), metric(t, m.base, "orders_cache_follow_delay_seconds_count"))
	}
}
