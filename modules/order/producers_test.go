package order_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/orders/modules/order"
)

// now is the service's clock in these tests.
var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// producerOrder is an order as another producer shapes it: its own uid
// scheme, the payment provider's transaction id, items whose total_price it
// rounds its own way. sums makes goods_total and amount add up.
func producerOrder(uid, transaction, date string, items [][3]int64, sums bool) []byte {
	var its []order.Item
	var goods int64
	for i, it := range items {
		its = append(its, order.Item{ChrtID: int64(1000 + i), TrackNumber: "TRK" + uid[:4], Price: it[0], Rid: fmt.Sprintf("rid-%d", i),
			Name: "Thing", Sale: it[1], Size: "M", TotalPrice: it[2], NmID: 77, Brand: "Acme", Status: 202})
		goods += it[2]
	}
	amount := goods + 500
	if !sums {
		goods, amount = 12345, 99
	}
	m := map[string]any{
		"order_uid": uid, "track_number": "TRK" + uid[:4], "entry": "WBIL",
		"delivery": map[string]any{"name": "Ivan Petrov", "phone": "+79990001122", "zip": "101000",
			"city": "Moscow", "address": "Tverskaya 1", "region": "Moscow", "email": "ivan@example.org"},
		"payment": map[string]any{"transaction": transaction, "request_id": "", "currency": "RUB", "provider": "wbpay",
			"amount": amount, "payment_dt": 1637907727, "bank": "alpha", "delivery_cost": 500,
			"goods_total": goods, "custom_fee": 0},
		"items": its, "locale": "ru", "internal_signature": "", "customer_id": "cust-42",
		"delivery_service": "meest", "shardkey": "9", "sm_id": 99, "date_created": date, "oof_shard": "1",
		"extra_field_of_theirs": map[string]any{"ignored": true},
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// TestOtherProducersOrders: orders shaped as the public producers of this
// kind of service send them are stored; wrong ones are refused naming the field.
func TestOtherProducersOrders(t *testing.T) {
	check := order.Rules{Totals: true, MaxFuture: time.Hour, Now: func() time.Time { return now }}
	sumsOff := check
	sumsOff.Totals = false
	const date = "2026-11-30T09:15:00.123456+03:00"
	tests := []struct {
		name      string
		rules     order.Rules
		give      []byte
		wantField string // "" = accepted
		wantText  string
	}{
		{name: "uuid uid, provider transaction id, totals rounded down", rules: check,
			give: producerOrder("3f1c2b8e-6a4d-4e0b-9c51-7d2a0f6b9e13", "pay_9f8e7d6c5b4a", date, [][3]int64{{999, 33, 669}}, true)},
		{name: "ULID uid, totals rounded up", rules: check,
			give: producerOrder("ord_01JDQ8ZK3V5N7R2M4X6B9C1D0E", "3c9a1e50-0d2f-4b7e-a1c3-55e2d7f0b8a4", date, [][3]int64{{999, 33, 670}, {1500, 0, 1500}}, true)},
		{name: "hex uid, transaction equal to the uid", rules: check,
			give: producerOrder("b563feb7b2b84b6test", "b563feb7b2b84b6test", date, [][3]int64{{453, 30, 317}}, true)},
		{name: "hex uid, rounded to nearest (up)", rules: check,
			give: producerOrder("9f86d081884c7d659a2feaa0c55ad015", "TX-0001", date, [][3]int64{{105, 50, 53}}, true)},
		{name: "sums that do not add up, totals off", rules: sumsOff,
			give: producerOrder("6b86b273ff34fce19d6b804eff5a3f57", "T1", date, [][3]int64{{100, 10, 7}}, false)},
		{name: "sums that do not add up", rules: check,
			give:      producerOrder("d4735e3a265e16eee03f59718b9b5d03", "T2", date, [][3]int64{{100, 10, 90}}, false),
			wantField: "payment.goods_total"},
		{name: "total_price off by more than rounding", rules: check,
			give:      producerOrder("4e07408562bedb8b60ce05c1decfe3ad", "T3", date, [][3]int64{{100, 10, 88}}, true),
			wantField: "items[0].total_price", wantText: "90"},
		{name: "zero date", rules: check,
			give:      producerOrder("ef2d127de37b942baad06145e54b0c61", "T4", "0001-01-01T00:00:00Z", [][3]int64{{100, 0, 100}}, true),
			wantField: "date_created", wantText: "is the zero time"},
		{name: "far-future date", rules: check,
			give:      producerOrder("e7f6c011776e8db7cd330b54174fd76f", "T5", "2026-12-01T14:00:00Z", [][3]int64{{100, 0, 100}}, true),
			wantField: "date_created", wantText: "ahead of the service's clock"},
		{name: "within the allowed clock skew", rules: check,
			give: producerOrder("7902699be42c8a8e46fbbb4501726517", "T6", "2026-12-01T12:59:00Z", [][3]int64{{100, 0, 100}}, true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.rules.Parse(tt.give)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				assertServedAsSent(t, tt.give, p)
				return
			}
			var rej *order.RejectError
			if !errors.As(err, &rej) || rej.Kind != order.KindValidation {
				t.Fatalf("Parse error = %v, want a validation rejection", err)
			}
			for _, pr := range rej.Problems {
				if pr.Field == tt.wantField && strings.Contains(pr.Message, tt.wantText) {
					return
				}
			}
			t.Fatalf("no problem on %s saying %q: %v", tt.wantField, tt.wantText, err)
		})
	}
}

// assertServedAsSent: the canonical JSON carries every known field with the
// value the producer sent, and none of its unknown ones.
func assertServedAsSent(t *testing.T, sent []byte, p order.Parsed) {
	t.Helper()
	var in, out map[string]any
	if err := json.Unmarshal(sent, &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(p.JSON, &out); err != nil {
		t.Fatal(err)
	}
	delete(in, "extra_field_of_theirs")
	if _, ok := out["extra_field_of_theirs"]; ok {
		t.Fatal("unknown field kept")
	}
	// The instant is kept; its text may be normalised (same time, same zone offset).
	inDate, _ := time.Parse(time.RFC3339Nano, in["date_created"].(string))
	outDate, _ := time.Parse(time.RFC3339Nano, out["date_created"].(string))
	if !inDate.Equal(outDate) {
		t.Fatalf("date_created %v served as %v", in["date_created"], out["date_created"])
	}
	delete(in, "date_created")
	delete(out, "date_created")
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(out)
	if string(a) != string(b) {
		t.Fatalf("served differs from sent:\n sent %s\nserved %s", a, b)
	}
}
