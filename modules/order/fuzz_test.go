package order_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/marketplace/orders/modules/order"
)

// maxReasonBytes bounds the text of a rejection: it travels as the DLQ's
// x-error header and in a log line, next to a message of up to 1 MiB.
const maxReasonBytes = 8 << 10

// seed is a named input; the files of testdata/fuzz/FuzzParse carry the
// small ones under the same names.
type seed struct {
	name string
	give []byte
}

// fuzzSeeds are the fixture, variants of it that Parse accepts, and the
// hostile messages the consumer must park rather than store or crash on.
func fuzzSeeds(tb testing.TB) []seed {
	raw := fixture(tb)
	variant := func(change func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			tb.Fatal(err)
		}
		change(m)
		b, err := json.Marshal(m)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		tb.Fatal(err)
	}
	withTail := func(tail string) []byte { // the fixture with members added at the end
		b := bytes.TrimSpace(bytes.Clone(raw))
		return append(b[:len(b)-1], tail+"}"...)
	}
	return []seed{
		// Accepted.
		{"fixture", raw},
		{"fixture-compact", compact.Bytes()},
		{"unknown-nested", variant(func(m map[string]any) { m["unknown"] = map[string]any{"deep": []any{1, "<&>", nil}} })},
		{"unicode-and-html", variant(func(m map[string]any) { sub(m, "delivery")["city"] = "Кирьят-Моцкин <b>&amp;</b> \u2028" })},
		{"date-with-offset", variant(func(m map[string]any) { m["date_created"] = "2021-11-26T09:22:19.120+03:00" })},
		{"nesting-at-limit", withTail(`,"extra":` + strings.Repeat("[", order.MaxDepth-1) + strings.Repeat("]", order.MaxDepth-1))},
		{"escaped-unknown-key", withTail(`,"order\u005fuid_note":"escaped key of an unknown field"`)},

		// Rejected: decode.
		{"nil", nil},
		{"whitespace", []byte(" \n\t")},
		{"not-json", []byte("hello")},
		{"truncated", []byte(`{"order_uid":`)},
		{"array", []byte(`[` + compact.String() + `]`)},
		{"null", []byte(`null`)},
		{"number", []byte(`42`)},
		{"string", []byte(`"b563feb7b2b84b6test"`)},
		{"uid-number", []byte(`{"order_uid":5}`)},
		{"items-object", variant(func(m map[string]any) { m["items"] = map[string]any{} })},
		{"amount-string", variant(func(m map[string]any) { sub(m, "payment")["amount"] = "1817" })},
		{"fractional-price", variant(func(m map[string]any) { item(m, 0)["price"] = 45.5 })},
		{"amount-1e30", variant(func(m map[string]any) { sub(m, "payment")["amount"] = 1e30 })},
		{"invalid-utf8", []byte("{\"order_uid\":\"\xff\xfe\"}")},
		{"nesting-100", withTail(`,"extra":` + strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat("}", 100))},
		{"uid-twice", withTail(`,"order_uid":"b563feb7b2b84b6test"`)},
		{"upper-case-uid", bytes.Replace(compact.Bytes(), []byte(`"order_uid"`), []byte(`"ORDER_UID"`), 1)},
		{"long-s-key", bytes.Replace(compact.Bytes(), []byte(`"shardkey"`), []byte(`"ſhardkey"`), 1)}, // U+017F folds to s
		{"long-number", withTail(`,"sm_id":` + strings.Repeat("9", 10_000))},

		// Rejected: validation.
		{"empty-object", []byte(`{}`)},
		{"bare-duplicate", []byte(`{"order_uid":"a","order_uid":"b"}`)},
		{"uid-missing", variant(func(m map[string]any) { delete(m, "order_uid") })},
		{"negative-amount", variant(func(m map[string]any) { sub(m, "payment")["amount"] = -1 })},
		{"amount-over-max", variant(func(m map[string]any) { sub(m, "payment")["amount"] = order.MaxAmount + 1 })},
		{"goods-total-wrong", variant(func(m map[string]any) { sub(m, "payment")["goods_total"] = 300 })},
		{"track-number-300", variant(func(m map[string]any) { m["track_number"] = strings.Repeat("x", 300) })},
		{"nul-in-city", variant(func(m map[string]any) { sub(m, "delivery")["city"] = "Kiryat\x00Mozkin" })},
		{"date-not-rfc3339", variant(func(m map[string]any) { m["date_created"] = "26.11.2021" })},
		{"1500-broken-items", variant(func(m map[string]any) {
			items := make([]any, 1500)
			for i := range items {
				items[i] = map[string]any{"price": -1, "sale": 101, "total_price": -1}
			}
			m["items"] = items
		})},
	}
}

// FuzzParse checks that Parse never panics and that its two answers are
// sound: a rejection a person can read, or an order whose canonical JSON is a
// fixed point of Parse.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.give)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := order.DefaultRules().Parse(raw)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if !order.ValidUID(p.Order.OrderUID) {
			t.Fatalf("accepted order_uid %q is not a valid uid", p.Order.OrderUID)
		}
		if len(p.JSON) > order.MaxMessageBytes {
			// Escaping can make the canonical form longer than the message
			// (a raw U+2028 becomes "\u2028"), and Parse refuses anything
			// past the limit. No other difference is allowed.
			_, err := order.DefaultRules().Parse(p.JSON)
			var rej *order.RejectError
			if !errors.As(err, &rej) || !strings.Contains(rej.Reason(), "more than the") {
				t.Fatalf("canonical JSON of %d bytes: Parse error %v, want the size rejection", len(p.JSON), err)
			}
			return
		}
		again, err := order.DefaultRules().Parse(p.JSON)
		if err != nil {
			t.Fatalf("canonical JSON does not parse: %v\n%s", err, p.JSON)
		}
		if !bytes.Equal(again.JSON, p.JSON) {
			t.Fatalf("canonical JSON is not a fixed point:\n%s\n%s", p.JSON, again.JSON)
		}
	})
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	var rej *order.RejectError
	if !errors.As(err, &rej) {
		t.Fatalf("Parse error %T %v, want a *order.RejectError", err, err)
	}
	if rej.Kind != order.KindDecode && rej.Kind != order.KindValidation {
		t.Fatalf("kind %q, want decode or validation: %v", rej.Kind, err)
	}
	if len(rej.Problems) == 0 {
		t.Fatalf("rejection without problems: %v", err)
	}
	for _, p := range rej.Problems {
		if p.Message == "" {
			t.Fatalf("problem of field %q has no message: %v", p.Field, err)
		}
	}
	reason := rej.Reason()
	switch {
	case reason == "":
		t.Fatal("empty reason")
	case len(reason) > maxReasonBytes:
		t.Fatalf("reason is %d bytes, more than %d: %.200s…", len(reason), maxReasonBytes, reason)
	case !utf8.ValidString(reason):
		t.Fatalf("reason is not UTF-8: %q", reason)
	case strings.ContainsFunc(reason, unicode.IsControl):
		t.Fatalf("reason has a control character: %q", reason)
	}
}

// Names are matched exactly and once: encoding/json alone would take
// "ORDER_UID" as order_uid and keep the last of a repeated name, so other
// readers of the same bytes could see another order than the one stored.
func TestParseRejectsAmbiguousNames(t *testing.T) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, fixture(t)); err != nil {
		t.Fatal(err)
	}
	fix := compact.String()
	tests := []struct {
		name      string
		give      string
		wantKind  order.Kind // "" = accepted
		wantField string
	}{
		{"upper-case uid", strings.Replace(fix, `"order_uid"`, `"ORDER_UID"`, 1), order.KindDecode, "order_uid"},
		{"mixed-case nested", strings.Replace(fix, `"city"`, `"City"`, 1), order.KindDecode, "delivery.city"},
		{"mixed-case in an item", strings.Replace(fix, `"total_price"`, `"Total_Price"`, 1), order.KindDecode, "items[0].total_price"},
		{"long s folds to s", strings.Replace(fix, `"shardkey"`, `"ſhardkey"`, 1), order.KindDecode, "shardkey"},
		{"Kelvin sign folds to k", strings.Replace(fix, `"shardkey"`, "\"shard\u212aey\"", 1), order.KindDecode, "shardkey"},
		{"uid twice", strings.Replace(fix, `{"order_uid"`, `{"order_uid":"someone-else","order_uid"`, 1), order.KindDecode, "order_uid"},
		{"amount twice", strings.Replace(fix, `"amount":1817`, `"amount":1,"amount":1817`, 1), order.KindDecode, "payment.amount"},
		{"item field twice", strings.Replace(fix, `"sale":30`, `"sale":30,"sale":30`, 1), order.KindDecode, "items[0].sale"},
		{"bare duplicate", `{"order_uid":"a","order_uid":"b"}`, order.KindDecode, "order_uid"},
		{"bare upper case", `{"ORDER_UID":"a"}`, order.KindDecode, "order_uid"},
		{"escaped exact name", strings.Replace(fix, `"order_uid"`, `"order\u005fuid"`, 1), "", ""},
		{"unknown field twice", strings.Replace(fix, `{"order_uid"`, `{"note":1,"note":2,"order_uid"`, 1), "", ""},
		{"case inside an unknown field", strings.Replace(fix, `{"order_uid"`, `{"note":{"ORDER_UID":1},"order_uid"`, 1), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := order.DefaultRules().Parse([]byte(tt.give))
			if tt.wantKind == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var rej *order.RejectError
			if !errors.As(err, &rej) || rej.Kind != tt.wantKind {
				t.Fatalf("Parse error = %v, want kind %s", err, tt.wantKind)
			}
			if rej.Problems[0].Field != tt.wantField {
				t.Fatalf("problem %q, want one naming %s", rej.Problems[0], tt.wantField)
			}
		})
	}
}

func TestRejectionReasonIsBounded(t *testing.T) {
	for _, s := range fuzzSeeds(t) {
		if _, err := order.DefaultRules().Parse(s.give); err != nil {
			t.Run(s.name, func(t *testing.T) { checkRejection(t, err) })
		}
	}
}
