package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/kafka/kafkatest"
)

// shaped is the fixture as another producer sends it: its own uid scheme,
// the payment provider's transaction id, one item priced and rounded its way,
// fields of its own, and sometimes no message key.
func shaped(t *testing.T, uid, transaction string, price, sale, total int64, created time.Time) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t), &m); err != nil {
		t.Fatal(err)
	}
	m["order_uid"] = uid
	m["date_created"] = created.Format(time.RFC3339Nano)
	m["producer_version"] = "2.3.1" // unknown to the service: dropped
	item := m["items"].([]any)[0].(map[string]any)
	item["price"], item["sale"], item["total_price"] = price, sale, total
	pay := m["payment"].(map[string]any)
	pay["transaction"] = transaction
	pay["goods_total"] = total
	pay["amount"] = total + int64(pay["delivery_cost"].(float64)) + int64(pay["custom_fee"].(float64))
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOtherProducersOrdersStoredAndServed: orders shaped as the public
// producers of this kind of service send them are all stored and served as
// sent; the wrong ones are parked with the field named.
func TestOtherProducersOrdersStoredAndServed(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	cfg := testConfig(t, brokers)
	kafkatest.CreateTopics(t, brokers, 3, cfg.Kafka.Topic, cfg.Kafka.DLQTopic)
	svc := startService(t, cfg)
	created := time.Now().Add(-time.Hour).In(time.FixedZone("MSK", 3*3600)).Truncate(time.Microsecond)

	good := []struct {
		name  string
		uid   string
		body  []byte
		noKey bool
	}{
		{name: "uuid uid, provider's transaction, rounded down", uid: "3f1c2b8e-6a4d-4e0b-9c51-7d2a0f6b9e13"},
		{name: "ULID uid, rounded up, no key", uid: "ord_01JDQ8ZK3V5N7R2M4X6B9C1D0E", noKey: true},
		{name: "hex uid, rounded to nearest", uid: "9f86d081884c7d659a2feaa0c55ad015"},
	}
	good[0].body = shaped(t, good[0].uid, "pay_9f8e7d6c5b4a", 999, 33, 669, created)
	good[1].body = shaped(t, good[1].uid, "3c9a1e50-0d2f-4b7e-a1c3-55e2d7f0b8a4", 999, 33, 670, created)
	good[2].body = shaped(t, good[2].uid, "TX-0001", 105, 50, 53, created)

	bad := []struct {
		name, uid, field string
		body             []byte
	}{
		{name: "sums that do not add up", uid: "d4735e3a265e16eee03f59718b9b5d03", field: "items[0].total_price"},
		{name: "zero date", uid: "ef2d127de37b942baad06145e54b0c61", field: "date_created: is the zero time"},
		{name: "a day ahead", uid: "e7f6c011776e8db7cd330b54174fd76f", field: "date_created"},
	}
	bad[0].body = shaped(t, bad[0].uid, "T2", 100, 10, 80, created)
	bad[1].body = shaped(t, bad[1].uid, "T3", 100, 0, 100, time.Time{})
	bad[2].body = shaped(t, bad[2].uid, "T4", 100, 0, 100, time.Now().Add(24*time.Hour))

	var msgs []kafkatest.Message
	for _, g := range good {
		m := kafkatest.Message{Value: g.body}
		if !g.noKey {
			m.Key = []byte(g.uid)
		}
		msgs = append(msgs, m)
	}
	for _, b := range bad {
		msgs = append(msgs, kafkatest.Message{Key: []byte(b.uid), Value: b.body})
	}
	kafkatest.Produce(t, brokers, cfg.Kafka.Topic, msgs...)

	for _, g := range good {
		api := svc.base + "/api/getOrder?OrderUID=" + g.uid
		eventually(t, g.name+" to be served", 30*time.Second, func() bool {
			status, _, _ := get(t, api)
			return status == 200
		})
		_, _, body := get(t, api)
		var sent map[string]any
		if err := json.Unmarshal(g.body, &sent); err != nil {
			t.Fatal(err)
		}
		delete(sent, "producer_version")
		want, _ := json.Marshal(sent)
		if !jsonEqual(t, body, want) {
			t.Errorf("%s: served\n%s\nwant as sent\n%s", g.name, body, want)
		}
	}

	parked := kafkatest.ReadN(t, brokers, cfg.Kafka.DLQTopic, len(bad), 30*time.Second)
	if len(parked) != len(bad) {
		t.Fatalf("DLQ has %d messages, want %d", len(parked), len(bad))
	}
	reasons := map[string]string{}
	for _, m := range parked {
		reasons[string(m.Key)] = kafkatest.Header(m, kafka.HeaderError)
		if kind := kafkatest.Header(m, kafka.HeaderErrorKind); kind != "validation" {
			t.Errorf("%s parked as %q, want validation", m.Key, kind)
		}
	}
	for _, b := range bad {
		if !strings.Contains(reasons[b.uid], b.field) {
			t.Errorf("%s: x-error = %q, want it to name %q", b.name, reasons[b.uid], b.field)
		}
		if status, _, _ := get(t, svc.base+"/api/orders/"+b.uid); status != 404 {
			t.Errorf("%s: GET = %d, want 404", b.name, status)
		}
	}
}
