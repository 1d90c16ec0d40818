package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
	"github.com/marketplace/orders/modules/order/fake"
)

const fixtureUID = "b563feb7b2b84b6test"

func TestFixtureFromKafkaIsServedByAPIAndPage(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	svc := startService(t, cfg)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, kafkatest.Message{Key: []byte(fixtureUID), Value: fixture(t)})

	api := svc.base + "/api/getOrder?OrderUID=" + fixtureUID
	eventually(t, "the fixture to be served", 30*time.Second, func() bool {
		status, _, _ := get(t, api)
		return status == 200
	})
	status, ctype, body := get(t, api)
	if status != 200 || !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("GET %s = %d %s", api, status, ctype)
	}
	if !jsonEqual(t, body, fixture(t)) {
		t.Fatalf("API answer differs from the order consumed:\n%s", body)
	}
	if _, _, alt := get(t, svc.base+"/api/orders/"+fixtureUID); !jsonEqual(t, alt, fixture(t)) {
		t.Fatalf("/api/orders/<uid> differs: %s", alt)
	}

	for _, page := range []string{"/orders/" + fixtureUID, "/?OrderUID=" + fixtureUID} {
		status, ctype, html := get(t, svc.base+page)
		if status != 200 || !strings.HasPrefix(ctype, "text/html") {
			t.Fatalf("GET %s = %d %s", page, status, ctype)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(html)))
		if err != nil {
			t.Fatal(err)
		}
		text := doc.Text()
		for _, want := range []string{fixtureUID, "Test Testov", "Kiryat Mozkin", "Mascaras", "Vivienne Sabo", "wbpay"} {
			if !strings.Contains(text, want) {
				t.Errorf("page %s does not show %q", page, want)
			}
		}
	}
	if got := metric(t, svc.base, `orders_ingested_total{outcome="stored"}`); got != 1 {
		t.Errorf(`orders_ingested_total{outcome="stored"} = %v, want 1`, got)
	}
	if status, _, body := get(t, svc.base+"/readyz"); status != 200 {
		t.Errorf("/readyz = %d %s, want 200", status, body)
	}
}

func TestThousandGeneratedOrdersAllServed(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	gen := fake.New(42)
	var msgs []kafkatest.Message
	var uids []string
	for i := 0; i < 1000; i++ {
		uid, raw := gen.OrderJSON()
		uids = append(uids, uid)
		msgs = append(msgs, kafkatest.Message{Key: []byte(uid), Value: raw})
	}
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, msgs...)
	svc := startService(t, cfg)
	store := openStore(t, cfg.Postgres.DSN)
	eventually(t, "1,000 orders stored", 60*time.Second, func() bool { o, _ := counts(t, store); return o == 1000 })

	for i, uid := range uids {
		status, _, body := get(t, svc.base+"/api/getOrder?OrderUID="+url.QueryEscape(uid))
		if status != 200 {
			t.Fatalf("order %d (%s): status %d", i, uid, status)
		}
		if !jsonEqual(t, body, msgs[i].Value) {
			t.Fatalf("order %s served differently from what was produced", uid)
		}
	}
	if got := metric(t, svc.base, `orders_ingested_total{outcome="stored"}`); got != 1000 {
		t.Errorf("stored counter = %v, want 1000", got)
	}
	if got := metric(t, svc.base, "orders_cache_entries"); got != float64(cfg.Cache.Capacity) {
		t.Errorf("orders_cache_entries = %v, want the capacity %d", got, cfg.Cache.Capacity)
	}
}

func TestBadMessageParkedAndTheNextOneStored(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	svc := startService(t, cfg)
	bad := []byte(`{"order_uid": "b563feb7b2b84b6test", "payment": {"amount": "lots"}}`)
	// Same key: same partition, the bad one first.
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic,
		kafkatest.Message{Key: []byte(fixtureUID), Value: bad},
		kafkatest.Message{Key: []byte(fixtureUID), Value: fixture(t)},
	)
	eventually(t, "the good order after the bad one", 30*time.Second, func() bool {
		status, _, _ := get(t, svc.base+"/api/orders/"+fixtureUID)
		return status == 200
	})
	dlq := kafkatest.ReadN(t, brokers, cfg.Kafka.DLQTopic, 1, 20*time.Second)
	if len(dlq) != 1 {
		t.Fatalf("DLQ has %d messages, want 1", len(dlq))
	}
	m := dlq[0]
	if string(m.Value) != string(bad) || string(m.Key) != fixtureUID {
		t.Errorf("DLQ message is %q/%q, want the original key and bytes", m.Key, m.Value)
	}
	if got := kafkatest.Header(m, kafka.HeaderErrorKind); got != "decode" {
		t.Errorf("x-error-kind = %q, want decode", got)
	}
	if got := kafkatest.Header(m, kafka.HeaderSourceTopic); got != cfg.Kafka.Topic {
		t.Errorf("x-source-topic = %q, want %q", got, cfg.Kafka.Topic)
	}
	if got := kafkatest.Header(m, kafka.HeaderSourceOffset); got != "0" {
		t.Errorf("x-source-offset = %q, want 0 (the first message of its partition)", got)
	}
	if got := kafkatest.Header(m, kafka.HeaderError); !strings.Contains(got, "payment.amount") {
		t.Errorf("x-error = %q, want it to name payment.amount", got)
	}
	eventually(t, "the bad message to be counted", 10*time.Second, func() bool {
		return metric(t, svc.base, `orders_ingested_total{outcome="invalid"}`) == 1
	})
}

func TestSameOrderTwiceLeavesOneRowAndTheSameItems(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	svc := startService(t, cfg)
	// The second copy has other whitespace, key order and an unknown field:
	// still the same order.
	again := strings.Replace(string(fixture(t)), `"order_uid"`, `"unknown_extra": {"x": 1}, "order_uid"`, 1)
	again = strings.ReplaceAll(again, "\n", "")
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic,
		kafkatest.Message{Key: []byte(fixtureUID), Value: fixture(t)},
		kafkatest.Message{Key: []byte(fixtureUID), Value: fixture(t)},
		kafkatest.Message{Key: []byte(fixtureUID), Value: []byte(again)},
	)
	eventually(t, "two duplicates counted", 30*time.Second, func() bool {
		return metric(t, svc.base, `orders_ingested_total{outcome="duplicate"}`) == 2
	})
	store := openStore(t, cfg.Postgres.DSN)
	if o, i := counts(t, store); o != 1 || i != 1 {
		t.Fatalf("after three deliveries of one order: %d orders, %d items; want 1 and 1", o, i)
	}
	_, _, body := get(t, svc.base+"/api/orders/"+fixtureUID)
	if strings.Contains(string(body), "unknown_extra") {
		t.Fatalf("unknown field served: %s", body)
	}
}

func TestDifferentOrderUnderStoredUIDIsAConflict(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	svc := startService(t, cfg)
	changed := strings.Replace(string(fixture(t)), `"Test Testov"`, `"Someone Else"`, 1)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic,
		kafkatest.Message{Key: []byte(fixtureUID), Value: fixture(t)},
		kafkatest.Message{Key: []byte(fixtureUID), Value: []byte(changed)},
	)
	dlq := kafkatest.ReadN(t, brokers, cfg.Kafka.DLQTopic, 1, 30*time.Second)
	if len(dlq) != 1 || kafkatest.Header(dlq[0], kafka.HeaderErrorKind) != "conflict" || string(dlq[0].Value) != changed {
		t.Fatalf("want the changed order in the DLQ as a conflict, got %d messages", len(dlq))
	}
	_, _, body := get(t, svc.base+"/api/orders/"+fixtureUID)
	if !jsonEqual(t, body, fixture(t)) {
		t.Fatalf("the stored order changed after a conflict: %s", body)
	}
	eventually(t, "the conflict to be counted", 10*time.Second, func() bool {
		return metric(t, svc.base, `orders_ingested_total{outcome="conflict"}`) == 1
	})
}

func TestRestartedServiceAnswersFromCacheWarmedWithNewest(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	cfg.Cache.Capacity = 5
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var msgs []kafkatest.Message
	for i := 0; i < 12; i++ {
		uid := fmt.Sprintf("warm-%02d", i)
		msgs = append(msgs, kafkatest.Message{Key: []byte(uid), Value: variant(t, uid, base.Add(time.Duration(i)*time.Hour))})
	}
	first := startService(t, cfg)
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, msgs...)
	eventually(t, "12 stored", 30*time.Second, func() bool {
		return metric(t, first.base, `orders_ingested_total{outcome="stored"}`) == 12
	})
	first.stop(t)

	second := startService(t, cfg)
	if got := metric(t, second.base, "orders_cache_entries"); got != 5 {
		t.Fatalf("cache after restart holds %v orders, want 5", got)
	}
	for i := 7; i < 12; i++ { // the five newest
		if status, _, _ := get(t, second.base+fmt.Sprintf("/api/orders/warm-%02d", i)); status != 200 {
			t.Fatalf("warm-%02d: %d", i, status)
		}
	}
	if hits, misses := metric(t, second.base, "orders_cache_hits_total"), metric(t, second.base, "orders_cache_misses_total"); hits != 5 || misses != 0 {
		t.Fatalf("reading the 5 newest after restart: %v hits, %v misses; want 5 and 0", hits, misses)
	}
	status, _, body := get(t, second.base+"/api/orders/warm-00")
	if status != 200 || !jsonEqual(t, body, msgs[0].Value) {
		t.Fatalf("the oldest order from the database: %d %s", status, body)
	}
	if misses := metric(t, second.base, "orders_cache_misses_total"); misses != 1 {
		t.Fatalf("reading an old order counted %v misses, want 1", misses)
	}
	// Reading an old order from the database must not displace a newer one.
	if status, _, _ := get(t, second.base+"/api/orders/warm-07"); status != 200 {
		t.Fatalf("warm-07 after reading warm-00: %d", status)
	}
	if hits, misses := metric(t, second.base, "orders_cache_hits_total"), metric(t, second.base, "orders_cache_misses_total"); hits != 6 || misses != 1 {
		t.Fatalf("after reading warm-00 then warm-07: %v hits, %v misses; want 6 and 1 (warm-07 still cached)", hits, misses)
	}
}
