package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/views"
)

// englishWord is a word of three Latin letters or more: the Russian pages
// write none but the technical tokens below, outside the data they show.
var englishWord = regexp.MustCompile(`[A-Za-z]{3,}`)

// technical are the Latin tokens a Russian page may use as Russian text
// does: names of formats, standards and zones, and the name of the other language
// on the switch, written in that language.
var technical = []string{"JSON", "API", "UTC", "ISO", "RFC", "UTF", "GMT", "Unix", "English"}

// englishIn returns the English words of text once each value in data is
// taken out.
func englishIn(text string, data []string) []string {
	for _, d := range data {
		text = strings.ReplaceAll(text, d, " ")
	}
	var found []string
	for _, w := range englishWord.FindAllString(text, -1) {
		if !slices.Contains(technical, w) && !slices.Contains(found, w) {
			found = append(found, w)
		}
	}
	return found
}

// dataOf is every text value in a JSON document, longest first, so that a
// value is taken out before a shorter one inside it.
func dataOf(t *testing.T, docs ...[]byte) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if len(v) >= 3 {
				out = append(out, v)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	for _, doc := range docs {
		var v any
		if err := json.Unmarshal(doc, &v); err != nil {
			t.Fatal(err)
		}
		walk(v)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// editedFixture is the reference order's JSON as change leaves it: for
// messages that are not quite orders.
func editedFixture(t *testing.T, change func(m map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rejects are reasons as modules/order writes them, one for each rule it
// has, made by parsing broken copies of the reference order; and the
// conflict reason of the consumer.
func rejects(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(change func(m map[string]any)) []byte { return editedFixture(t, change) }
	item := func(m map[string]any) map[string]any { return m["items"].([]any)[0].(map[string]any) }
	payment := func(m map[string]any) map[string]any { return m["payment"].(map[string]any) }
	broken := map[string][]byte{
		"not JSON":            []byte("nope"),
		"cut short":           raw[:40],
		"empty":               []byte("  "),
		"an array":            []byte("[1]"),
		"a string":            []byte(`"order"`),
		"not UTF-8":           []byte("{\"order_uid\":\"\xff\"}"),
		"too deep":            []byte(strings.Repeat("[", 70) + strings.Repeat("]", 70)),
		"too large":           append(append([]byte(`{"order_uid":"`), bytes.Repeat([]byte("a"), order.MaxMessageBytes)...), `"}`...),
		"price a string":      edit(func(m map[string]any) { item(m)["price"] = "453" }),
		"price a fraction":    edit(func(m map[string]any) { item(m)["price"] = 4.5 }),
		"payment_dt a string": edit(func(m map[string]any) { payment(m)["payment_dt"] = "1637907727" }),
		"amount a string":     edit(func(m map[string]any) { payment(m)["amount"] = "1817" }),
		"sale a string":       edit(func(m map[string]any) { item(m)["sale"] = "30" }),
		"status a string":     edit(func(m map[string]any) { item(m)["status"] = "202" }),
		"chrt_id a string":    edit(func(m map[string]any) { item(m)["chrt_id"] = "9934930" }),
		"sm_id a string":      edit(func(m map[string]any) { m["sm_id"] = "99" }),
		"shardkey a number":   edit(func(m map[string]any) { m["shardkey"] = 9 }),
		"items an object":     edit(func(m map[string]any) { m["items"] = map[string]any{} }),
		"name a number":       edit(func(m map[string]any) { m["delivery"].(map[string]any)["name"] = 5 }),
		"key in other case":   edit(func(m map[string]any) { m["Order_uid"] = "x" }),
		"no uid":              edit(func(m map[string]any) { delete(m, "order_uid") }),
		"bad uid":             edit(func(m map[string]any) { m["order_uid"] = "a b!" }),
		"negative":            edit(func(m map[string]any) { payment(m)["custom_fee"] = -5 }),
		"huge":                edit(func(m map[string]any) { payment(m)["custom_fee"] = 2e15 }),
		"currency":            edit(func(m map[string]any) { payment(m)["currency"] = "usd" }),
		"no items":            edit(func(m map[string]any) { m["items"] = []any{} }),
		"sale":                edit(func(m map[string]any) { item(m)["sale"] = 120 }),
		"total price":         edit(func(m map[string]any) { item(m)["total_price"] = 1 }),
		"goods total":         edit(func(m map[string]any) { payment(m)["goods_total"] = 1 }),
		"amount":              edit(func(m map[string]any) { payment(m)["amount"] = 1 }),
		"zero date":           edit(func(m map[string]any) { m["date_created"] = "0001-01-01T00:00:00Z" }),
		"future date":         edit(func(m map[string]any) { m["date_created"] = "2999-01-01T00:00:00Z" }),
		"not a date":          edit(func(m map[string]any) { m["date_created"] = "yesterday" }),
		"no date":             edit(func(m map[string]any) { delete(m, "date_created") }),
		"control character":   edit(func(m map[string]any) { m["locale"] = "e\x01n" }),
		"too long":            edit(func(m map[string]any) { m["locale"] = strings.Repeat("e", 2000) }),
		"many problems": edit(func(m map[string]any) {
			var items []any
			for range 30 {
				items = append(items, map[string]any{"chrt_id": 1, "price": -1, "sale": 500, "total_price": -1, "status": 202,
					"track_number": "", "rid": "", "name": "", "size": "", "nm_id": 1, "brand": ""})
			}
			m["items"] = items
		}),
	}
	var reasons []string
	for name, b := range broken {
		_, err := order.DefaultRules().Parse(b)
		var rej *order.RejectError
		if !errors.As(err, &rej) {
			t.Fatalf("%s: parse gave %v, want a rejection", name, err)
		}
		reasons = append(reasons, rej.Reason())
	}
	slices.Sort(reasons)
	return append(reasons, `order_uid: a different order is already stored under "b563feb7b2b84b6test"`)
}

// TestReasonsInRussian words every reason modules/order writes in Russian,
// leaving the field paths and the values quoted as they are (code).
func TestReasonsInRussian(t *testing.T) {
	for _, reason := range rejects(t) {
		text := reasonText(reason, views.LangRU)
		var words strings.Builder
		fields := 0
		for _, s := range text {
			if s.Code {
				fields++
				continue
			}
			words.WriteString(s.S + " ")
		}
		if found := englishIn(words.String(), nil); len(found) > 0 {
			t.Errorf("%q\n  in Russian: %q\n  has English %q", reason, text.String(), found)
		}
		if field, _, ok := strings.Cut(reason, ": "); ok && fieldPath.MatchString(field) && (fields == 0 || text[0].S != field) {
			t.Errorf("%q: the field path %s is not kept as code: %q", reason, field, text)
		}
		if en := reasonText(reason, views.LangEN).String(); en != reason {
			t.Errorf("in English %q, want it as written", en)
		}
	}
}

// TestRussianPagesHaveNoEnglish renders each page in Russian, takes out the
// data it shows (the orders' values, what was typed, the parked messages'
// keys, bodies and field paths, all set apart as code), and finds no
// English word in what is left: text, titles, placeholders and labels.
func TestRussianPagesHaveNoEnglish(t *testing.T) {
	env := newTestEnv(t)
	delete(env.orders.records, xssUID)
	env.orders.put(withUID(t, "second-order", func(o *order.Order) {
		o.DateCreated = o.DateCreated.Add(time.Hour)
		o.Items = append(o.Items, o.Items[0])
		o.Items[1].Status = 201
		o.Items[1].TotalPrice = 0
		o.Items[1].Price = 0
		o.Payment.GoodsTotal = o.Items[0].TotalPrice
	}))
	var docs [][]byte
	for _, r := range env.orders.all() {
		docs = append(docs, r.JSON)
	}
	at := time.Date(2026, 12, 6, 1, 33, 23, 0, time.UTC)
	var parked []order.Parked
	for i, reason := range rejects(t) {
		parked = append(parked, order.Parked{
			Kind: []order.Kind{order.KindDecode, order.KindValidation, order.KindConflict}[i%3], Reason: reason,
			Topic: "orders", Partition: int32(i % 3), Offset: int64(90 + i), Time: at, Key: []byte("some-key"),
			Body: []byte(`{"order_uid":"some-key","items":[]}`), Size: 36 + i*5000,
		})
	}
	parked[0].Size = len(parked[0].Body)
	parked[1].ReplayOf = "orders.dlq/1@3"
	env.deps.Parked.(*fakeParked).items = parked
	env.app = env.newApp(Config{})
	data := dataOf(t, docs...)

	pages := []struct {
		name   string
		req    request
		status int
	}{
		{"home", get("/"), 200},
		{"order", get("/orders/" + cachedUID), 200},
		{"order, two statuses", get("/orders/second-order"), 200},
		{"search list", get("/?OrderUID=test"), 200},
		{"not found by path", get("/orders/" + unknownUID), 404},
		{"not found by search", get("/?OrderUID=" + unknownUID), 404},
		{"no such page", get("/nope"), 404},
		{"malformed uid", get("/orders/a%20b"), 400},
		{"character not in a uid", get("/orders/ab!"), 400},
		{"uid too long", get("/orders/" + strings.Repeat("a", 65)), 400},
		{"empty search", get("/?OrderUID=%20"), 400},
		{"search too long", get("/?OrderUID=" + strings.Repeat("a", 129)), 400},
		{"bad limit", get("/dlq?limit=0"), 400},
		{"bad kind", get("/dlq?kind=nope"), 400},
		{"bad cursor", get("/dlq?cursor=nope"), 400},
		{"dlq", get("/dlq?limit=100"), 200},
		{"dlq of a kind", get("/dlq?kind=conflict&limit=2"), 200},
		{"dlq of a kind, page 2", get("/dlq?kind=conflict&limit=2&cursor=p2"), 200},
		{"error", get("/orders/" + storeDown), 500},
		{"method", request{method: http.MethodPost, target: "/"}, 405},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			p.req.header = map[string]string{"Cookie": "lang=ru"}
			resp := env.do(t, p.req)
			if resp.status != p.status {
				t.Fatalf("status %d, want %d", resp.status, p.status)
			}
			checkRussian(t, page(t, resp), data)
		})
	}

	// The DLQ when the broker does not answer.
	env.deps.Parked.(*fakeParked).err = errors.New("slow broker")
	resp := env.do(t, request{method: http.MethodGet, target: "/dlq", header: map[string]string{"Cookie": "lang=ru"}})
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("unreadable DLQ: status %d", resp.status)
	}
	checkRussian(t, page(t, resp), data)
}

func checkRussian(t *testing.T, doc *goquery.Document, data []string) {
	t.Helper()
	if lang, _ := doc.Find("html").Attr("lang"); lang != views.LangRU {
		t.Fatalf("lang %q", lang)
	}
	// Values set apart: field paths, keys, bodies; and what the scripts are.
	doc.Find("code, pre, script").Remove()
	var b strings.Builder
	b.WriteString(doc.Find("title").Text() + "\n" + doc.Find("body").Text())
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, attr := range []string{"title", "placeholder", "aria-label", "data-label", "alt"} {
			if v, ok := s.Attr(attr); ok {
				b.WriteString("\n" + v)
			}
		}
	})
	text := b.String()
	if found := englishIn(text, data); len(found) > 0 {
		t.Errorf("English in the Russian page: %q", found)
		for _, w := range found {
			if i := strings.Index(text, w); i >= 0 {
				t.Logf("  %q: …%s…", w, strings.ToValidUTF8(text[max(0, i-60):min(len(text), i+60)], ""))
			}
		}
	}
	if strings.Contains(text, "%!") {
		t.Errorf("a format went wrong: %s", text[strings.Index(text, "%!"):][:min(40, len(text)-strings.Index(text, "%!"))])
	}
}

// TestRussianOrderWords checks the words the issue names: no half-Latin
// labels, and the delivery section apart from its cost.
func TestRussianOrderWords(t *testing.T) {
	env := newTestEnv(t)
	doc := page(t, env.do(t, request{method: http.MethodGet, target: "/orders/" + cachedUID, header: map[string]string{"Cookie": "lang=ru"}}))
	if got := doc.Find("#delivery-title").Text(); got == dtText(doc, "payment", 7) {
		t.Errorf("the delivery section and the delivery cost are both %q", got)
	}
	if got := dd(doc, "payment", "Стоимость доставки"); got != nb("15,00 USD") {
		t.Errorf("delivery cost = %q", got)
	}
	if got := dd(doc, "payment", "Идентификатор запроса"); got != "—" {
		t.Errorf("request id = %q", got)
	}
	if got := doc.Find("label[for=order-uid]").Text(); strings.Contains(got, "Uid") {
		t.Errorf("search label %q", got)
	}
	if got := dd(doc, "summary", "Статус"); got != "202 Принят" {
		t.Errorf("status %q", got)
	}
}

// dtText is the i-th label of a section's description list.
func dtText(doc *goquery.Document, section string, i int) string {
	return strings.TrimSpace(doc.Find(fmt.Sprintf("#%s dt", section)).Eq(i).Text())
}
