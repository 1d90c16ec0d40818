package order_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/marketplace/orders/modules/order"
)

func fixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes the fixture into a generic map, lets f change it, and encodes it.
func edit(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sub(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }
func item(m map[string]any, i int) map[string]any     { return m["items"].([]any)[i].(map[string]any) }

func TestFixtureIsValid(t *testing.T) {
	p, err := order.DefaultRules().Parse(fixture(t))
	if err != nil {
		t.Fatalf("fixture rejected: %v", err)
	}
	if p.Order.OrderUID != "b563feb7b2b84b6test" || len(p.Order.Items) != 1 || p.Order.Payment.Amount != 1817 {
		t.Fatalf("fixture decoded wrongly: %+v", p.Order)
	}
	var got, want any
	_ = json.Unmarshal(p.JSON, &got)
	_ = json.Unmarshal(fixture(t), &want)
	if !jsonEqual(got, want) {
		t.Fatalf("canonical JSON differs from the fixture:\n%s", p.JSON)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestValidationRules(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name      string
		give      func(m map[string]any)
		wantField string
	}{
		{"uid missing", func(m map[string]any) { delete(m, "order_uid") }, "order_uid"},
		{"uid empty", func(m map[string]any) { m["order_uid"] = "" }, "order_uid"},
		{"uid with space", func(m map[string]any) { m["order_uid"] = "a b"; sub(m, "payment")["transaction"] = "a b" }, "order_uid"},
		{"uid too long", func(m map[string]any) {
			u := strings.Repeat("a", 65)
			m["order_uid"] = u
			sub(m, "payment")["transaction"] = u
		}, "order_uid"},
		{"track_number empty", func(m map[string]any) { m["track_number"] = "" }, "track_number"},
		{"entry missing", func(m map[string]any) { delete(m, "entry") }, "entry"},
		{"delivery name empty", func(m map[string]any) { sub(m, "delivery")["name"] = "" }, "delivery.name"},
		{"delivery phone missing", func(m map[string]any) { delete(sub(m, "delivery"), "phone") }, "delivery.phone"},
		{"delivery city empty", func(m map[string]any) { sub(m, "delivery")["city"] = "" }, "delivery.city"},
		{"delivery address empty", func(m map[string]any) { sub(m, "delivery")["address"] = "" }, "delivery.address"},
		{"delivery missing entirely", func(m map[string]any) { delete(m, "delivery") }, "delivery.name"},
		{"transaction empty", func(m map[string]any) { sub(m, "payment")["transaction"] = "" }, "payment.transaction"},
		{"transaction over-long", func(m map[string]any) { sub(m, "payment")["transaction"] = long }, "payment.transaction"},
		{"currency lower case", func(m map[string]any) { sub(m, "payment")["currency"] = "usd" }, "payment.currency"},
		{"currency four letters", func(m map[string]any) { sub(m, "payment")["currency"] = "USDT" }, "payment.currency"},
		{"provider empty", func(m map[string]any) { sub(m, "payment")["provider"] = "" }, "payment.provider"},
		{"date_created missing", func(m map[string]any) { delete(m, "date_created") }, "date_created"},
		{"date_created not RFC 3339", func(m map[string]any) { m["date_created"] = "26.11.2021" }, "date_created"},
		{"no items", func(m map[string]any) { m["items"] = []any{} }, "items"},
		{"items null", func(m map[string]any) { m["items"] = nil }, "items"},
		{"negative amount", func(m map[string]any) { sub(m, "payment")["amount"] = -1 }, "payment.amount"},
		{"negative delivery cost", func(m map[string]any) { sub(m, "payment")["delivery_cost"] = -1500 }, "payment.delivery_cost"},
		{"negative price", func(m map[string]any) { item(m, 0)["price"] = -453 }, "items[0].price"},
		{"amount beyond bound", func(m map[string]any) { sub(m, "payment")["amount"] = int64(order.MaxAmount) + 1 }, "payment.amount"},
		{"sale over 100", func(m map[string]any) { item(m, 0)["sale"] = 101 }, "items[0].sale"},
		{"sale negative", func(m map[string]any) { item(m, 0)["sale"] = -1 }, "items[0].sale"},
		{"total_price below rounding down", func(m map[string]any) { item(m, 0)["total_price"] = 316 }, "items[0].total_price"},
		{"total_price above rounding up", func(m map[string]any) { item(m, 0)["total_price"] = 319 }, "items[0].total_price"},
		{"date_created zero time", func(m map[string]any) { m["date_created"] = "0001-01-01T00:00:00Z" }, "date_created"},
		{"date_created far future", func(m map[string]any) { m["date_created"] = "2999-01-01T00:00:00Z" }, "date_created"},
		{"goods_total wrong", func(m map[string]any) { sub(m, "payment")["goods_total"] = 300 }, "payment.goods_total"},
		{"amount does not add up", func(m map[string]any) { sub(m, "payment")["amount"] = 1818 }, "payment.amount"},
		{"item name empty", func(m map[string]any) { item(m, 0)["name"] = "" }, "items[0].name"},
		{"over-long string", func(m map[string]any) { m["track_number"] = long }, "track_number"},
		{"over-long item brand", func(m map[string]any) { item(m, 0)["brand"] = long }, "items[0].brand"},
		{"NUL in a string", func(m map[string]any) { sub(m, "delivery")["city"] = "Kiryat\x00Mozkin" }, "delivery.city"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := order.DefaultRules().Parse(edit(t, tt.give))
			var rej *order.RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("Parse error = %v, want a *RejectError", err)
			}
			if rej.Kind != order.KindValidation {
				t.Fatalf("kind = %s, want validation (err %v)", rej.Kind, err)
			}
			for _, p := range rej.Problems {
				if p.Field == tt.wantField {
					return
				}
			}
			t.Fatalf("no problem names %s: %v", tt.wantField, err)
		})
	}
}

func TestDecodeRejections(t *testing.T) {
	tests := []struct {
		name      string
		give      []byte
		wantField string // "" when the problem is the whole message
		wantText  string
	}{
		{"empty", []byte(""), "", "empty"},
		{"whitespace", []byte("  \n"), "", "empty"},
		{"not JSON", []byte("hello"), "", "not JSON"},
		{"truncated JSON", []byte(`{"order_uid":`), "", "not JSON"},
		{"array", []byte(`[1,2]`), "", "array"},
		{"null", []byte(`null`), "", "null"},
		{"string", []byte(`"order"`), "", "string"},
		{"invalid UTF-8", []byte("{\"order_uid\":\"\xff\"}"), "", "UTF-8"},
		{"uid a number", []byte(`{"order_uid":5}`), "order_uid", "string"},
		{"fractional price", edit(t, func(m map[string]any) { item(m, 0)["price"] = 45.5 }), "items.price", "integer"},
		{"amount as string", edit(t, func(m map[string]any) { sub(m, "payment")["amount"] = "1817" }), "payment.amount", "integer"},
		// A reason says what the field holds, not only its type.
		{"payment_dt as string", edit(t, func(m map[string]any) { sub(m, "payment")["payment_dt"] = "yesterday" }), "payment.payment_dt", "an integer (a Unix time in seconds)"},
		{"price as string", edit(t, func(m map[string]any) { item(m, 0)["price"] = "453" }), "items.price", "an integer (minor units)"},
		{"sale as string", edit(t, func(m map[string]any) { item(m, 0)["sale"] = "30%" }), "items.sale", "an integer (a discount in percent, 0 to 100)"},
		{"items an object", edit(t, func(m map[string]any) { m["items"] = map[string]any{} }), "items", "array"},
		{"number out of int64 range", []byte(`{"sm_id": 99999999999999999999}`), "sm_id", "integer"},
		{"too deep", []byte(`{"x":` + strings.Repeat("[", 65) + strings.Repeat("]", 65) + `}`), "", "deeper than 64"},
		{"too large", append(append([]byte(`{"x":"`), make([]byte, order.MaxMessageBytes)...), `"}`...), "", "more than"},
		// Unicode's other spaces are not JSON white space (json.Valid agrees).
		{"no-break space before", append([]byte("\u00a0"), fixtureBytes(t)...), "", "not JSON"},
		{"ideographic space after", append(fixtureBytes(t), "\u3000"...), "", "not JSON"},
		{"vertical tab before", append([]byte("\v"), fixtureBytes(t)...), "", "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := order.DefaultRules().Parse(tt.give)
			var rej *order.RejectError
			if !errors.As(err, &rej) || rej.Kind != order.KindDecode {
				t.Fatalf("Parse error = %v, want kind decode", err)
			}
			if got := rej.Problems[0]; got.Field != tt.wantField || !strings.Contains(got.Message, tt.wantText) {
				t.Fatalf("problem = %q, want field %q and text %q", got, tt.wantField, tt.wantText)
			}
		})
	}
}

func TestNestingAtTheLimitIsAccepted(t *testing.T) {
	raw := edit(t, func(m map[string]any) {})
	deep := `,"extra":` + strings.Repeat("[", order.MaxDepth-1) + strings.Repeat("]", order.MaxDepth-1) + `}`
	raw = append(raw[:len(raw)-1], deep...)
	if _, err := order.DefaultRules().Parse(raw); err != nil {
		t.Fatalf("nesting of exactly %d levels rejected: %v", order.MaxDepth, err)
	}
}

func TestSameOrderHasEqualCanonicalJSON(t *testing.T) {
	a, err := order.DefaultRules().Parse(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	// Reordered keys, no whitespace, and unknown fields at two levels.
	b, err := order.DefaultRules().Parse(edit(t, func(m map[string]any) {
		m["unknown_field"] = map[string]any{"deep": []any{1, 2}}
		sub(m, "delivery")["floor"] = 3
	}))
	if err != nil {
		t.Fatal(err)
	}
	if string(a.JSON) != string(b.JSON) {
		t.Fatalf("same order, different canonical JSON:\n%s\n%s", a.JSON, b.JSON)
	}
	if strings.Contains(string(b.JSON), "unknown_field") || strings.Contains(string(b.JSON), "floor") {
		t.Fatalf("unknown fields kept: %s", b.JSON)
	}
	c, _ := order.DefaultRules().Parse(edit(t, func(m map[string]any) { sub(m, "delivery")["city"] = "Haifa" }))
	if string(a.JSON) == string(c.JSON) {
		t.Fatal("different orders have equal canonical JSON")
	}
}

func TestDecodeOfStoredJSON(t *testing.T) {
	p, err := order.DefaultRules().Parse(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	// What jsonb gives back: keys sorted by length then bytes, with spaces.
	var m map[string]any
	_ = json.Unmarshal(p.JSON, &m)
	stored, _ := json.MarshalIndent(m, "", " ")
	for _, give := range [][]byte{p.JSON, stored} {
		o, err := order.Decode(give)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(o, p.Order) {
			t.Fatalf("Decode(%s) = %+v, want %+v", give, o, p.Order)
		}
	}
}

// TestHTMLCharactersAreStoredAsTheyAre: < > & in an order are stored and
// cached as they are, not as \u003c \u003e \u0026 (escaped, a message of
// 0.98 MB of them became 5.4 MB of stored JSON); pages escape on output.
func TestHTMLCharactersAreStoredAsTheyAre(t *testing.T) {
	marks := strings.Repeat("<>&", 85) // 255 characters, the longest an item's text may be
	var m map[string]any
	if err := json.Unmarshal(fixture(t), &m); err != nil {
		t.Fatal(err)
	}
	first := item(m, 0)
	first["name"], first["brand"], first["size"] = marks, marks, marks
	items := make([]any, order.MaxItems)
	for i := range items {
		items[i] = first
	}
	m["items"] = items
	sub(m, "payment")["goods_total"] = len(items) * int(first["total_price"].(float64))
	sub(m, "payment")["amount"] = sub(m, "payment")["goods_total"].(int) + int(sub(m, "payment")["delivery_cost"].(float64))
	sub(m, "delivery")["address"] = strings.Repeat("&", 1024)
	var msg strings.Builder
	enc := json.NewEncoder(&msg)
	enc.SetEscapeHTML(false) // as most producers write JSON
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	raw := []byte(msg.String())
	if len(raw) < 900<<10 || len(raw) > order.MaxMessageBytes {
		t.Fatalf("the message is %d bytes, want about 0.98 MB", len(raw))
	}

	p, err := order.DefaultRules().Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.JSON) > len(raw)+64 {
		t.Errorf("stored JSON is %d bytes for a message of %d", len(p.JSON), len(raw))
	}
	var got, want any
	if err := json.Unmarshal(p.JSON, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(raw, &want)
	if !reflect.DeepEqual(got, want) {
		t.Error("stored JSON is not the message's JSON value")
	}
	back, err := order.Decode(p.JSON)
	if err != nil || !reflect.DeepEqual(back, p.Order) {
		t.Errorf("stored JSON reads back as another order (%v)", err)
	}
}

func TestValidUID(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"b563feb7b2b84b6test", true},
		{"A-z_0-9", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"a b", false},
		{"a/b", false},
		{"<script>", false},
		{"ключ", false},
	}
	for _, tt := range tests {
		if got := order.ValidUID(tt.give); got != tt.want {
			t.Errorf("ValidUID(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

func TestRecordNewer(t *testing.T) {
	p, _ := order.DefaultRules().Parse(fixture(t))
	r := p.Record()
	later := r
	later.DateCreated = r.DateCreated.Add(1)
	tieBigger := r
	tieBigger.UID = r.UID + "z"
	if !later.Newer(r) || r.Newer(later) {
		t.Error("a later date_created must be newer")
	}
	if !tieBigger.Newer(r) || r.Newer(tieBigger) {
		t.Error("on equal dates the greater uid must be newer")
	}
	if r.Newer(r) {
		t.Error("a record is not newer than itself")
	}
}

func fixtureBytes(t *testing.T) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/model.json")
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
