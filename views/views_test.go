package views

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

const xss = `<script>alert(1)</script>`

func renderDoc(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse html: %v", err)
	}
	return doc
}

// shown returns the value shown next to label in the description list of the
// section with the given id.
func shown(t *testing.T, doc *goquery.Document, section, label string) string {
	t.Helper()
	dt := doc.Find("#" + section + " dt").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.TrimSpace(s.Text()) == label
	})
	if dt.Length() != 1 {
		t.Fatalf("section %s: %d labels %q, want 1", section, dt.Length(), label)
	}
	return strings.TrimSpace(dt.Next().Text())
}

// assertSearchForm checks what the contract promises of every page: a GET form
// to "/" with an input named OrderUID, holding wantValue.
func assertSearchForm(t *testing.T, doc *goquery.Document, wantValue string) {
	t.Helper()
	form := doc.Find("form").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return s.Find(`input[name="OrderUID"]`).Length() == 1
	})
	if form.Length() != 1 {
		t.Fatalf("%d forms with an OrderUID input, want 1", form.Length())
	}
	if m, _ := form.Attr("method"); !strings.EqualFold(m, "get") {
		t.Errorf("form method = %q, want GET", m)
	}
	if a, _ := form.Attr("action"); a != "/" {
		t.Errorf("form action = %q, want /", a)
	}
	if v, _ := form.Find(`input[name="OrderUID"]`).Attr("value"); v != wantValue {
		t.Errorf("OrderUID input value = %q, want %q", v, wantValue)
	}
}

// assertNoActiveContent checks the pages need nothing the Content-Security-
// Policy forbids, and that no value turned into markup: scripts only from
// the app's own files, no inline script or style.
func assertNoActiveContent(t *testing.T, doc *goquery.Document) {
	t.Helper()
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/static/") || s.Text() != "" {
			t.Errorf("script src %q text %q is not one of the app's own files", src, s.Text())
		}
	})
	for _, sel := range []string{"style", "[style]", "iframe", "[onclick]", "[onerror]"} {
		if n := doc.Find(sel).Length(); n != 0 {
			t.Errorf("%d %s in the page, want none", n, sel)
		}
	}
	if href, ok := doc.Find(`link[rel="stylesheet"]`).Attr("href"); !ok || !strings.HasPrefix(href, "/") {
		t.Errorf("stylesheet link = %q, want a same-origin path", href)
	}
}

func en(query string) Page {
	return Page{Lang: LangEN, Query: query, SwitchHref: "/?lang=ru", SwitchLabel: "Русский", SwitchLang: LangRU}
}

func sampleOrder() OrderView {
	return OrderView{
		Page:        en("b563feb7b2b84b6test"),
		UID:         "b563feb7b2b84b6test",
		TrackNumber: "WBILMTESTTRACK",
		Created:     "2021-11-26 06:22:19 UTC",
		CreatedISO:  "2021-11-26T06:22:19Z",
		CustomerID:  "test",
		Amount:      "18.17 USD",
		Status:      "202 Accepted",
		StatusClass: "status-ok",
		SourceNote:  "Served from the cache",
		JSONHref:    "/api/orders/b563feb7b2b84b6test",
		Delivery: DeliveryView{
			Name:    "Test Testov",
			Phone:   "+9720000000",
			Email:   "test@gmail.com",
			Address: xss,
			City:    "Kiryat Mozkin",
			Region:  "Kraiot",
			Zip:     "2639809",
		},
		Payment: PaymentView{
			Transaction:  "b563feb7b2b84b6test",
			Provider:     "wbpay",
			Bank:         "alpha",
			Currency:     "USD",
			PaidAt:       "2021-11-26 06:22:07 UTC",
			PaidAtISO:    "2021-11-26T06:22:07Z",
			GoodsTotal:   "3.17 USD",
			DeliveryCost: "15.00 USD",
			CustomFee:    "0.00 USD",
			Amount:       "18.17 USD",
		},
		Items: []ItemView{
			{Name: xss, Brand: "Vivienne Sabo", Size: "0", Price: "4.53 USD", Sale: "30%", TotalPrice: "3.17 USD",
				Status: "202 Accepted", Technical: []Field{{"nm_id", "2389212", true}, {"chrt_id", "9934930", true}}},
			{Name: "Lipstick", Brand: "Sabo", Size: "M", Price: "1.00 USD", Sale: "0%", TotalPrice: "1.00 USD",
				Status: "202 Accepted", Technical: []Field{{"nm_id", "2", true}}},
		},
		ItemTotal: "4.17 USD",
		Technical: []Field{{"Shard key", "9", false}, {"sm_id", "99", true}, {"oof_shard", "1", true}, {"Internal signature", xss, false}},
	}
}

func TestHomePage(t *testing.T) {
	rows := []OrderRow{{UID: "a", Href: "/orders/a", Created: "2021-11-26 06:22:19 UTC", CreatedISO: "2021-11-26T06:22:19Z",
		Customer: xss, Amount: "1.00 USD", Items: "2", TrackNumber: "T"}}
	doc := renderDoc(t, HomePage(HomeView{Page: en(`"><b>x</b>`), Orders: rows, LiveSrc: "/live/orders"}))
	assertSearchForm(t, doc, `"><b>x</b>`)
	assertNoActiveContent(t, doc)
	if n := doc.Find("b").Length(); n != 0 {
		t.Errorf("query became markup: %d <b> elements", n)
	}
	if got := doc.Find("title").Text(); !strings.Contains(got, "Find an order") {
		t.Errorf("title = %q", got)
	}
	if href, _ := doc.Find("#recent tr a").Attr("href"); href != "/orders/a" {
		t.Errorf("row link = %q", href)
	}
	if got := doc.Find("#recent td").Eq(2).Text(); got != xss {
		t.Errorf("customer = %q, want it as text", got)
	}
	if n := doc.Find(`script[src="/static/htmx.min.js"]`).Length(); n != 1 {
		t.Errorf("%d htmx scripts with a live source, want 1", n)
	}
	doc = renderDoc(t, HomePage(HomeView{Page: en(""), ExampleUID: "ex", ExampleHref: "/orders/ex"}))
	if href, _ := doc.Find("#example a").Attr("href"); href != "/orders/ex" {
		t.Errorf("example link = %q", href)
	}
	if n := doc.Find(`script[src="/static/htmx.min.js"]`).Length(); n != 0 {
		t.Errorf("htmx loaded with no live source")
	}
}

func TestOrderPage(t *testing.T) {
	v := sampleOrder()
	doc := renderDoc(t, OrderPage(v))
	assertSearchForm(t, doc, v.UID)
	assertNoActiveContent(t, doc)

	if got := doc.Find("h1 .uid").Text(); got != v.UID {
		t.Errorf("heading uid = %q, want %q", got, v.UID)
	}
	tests := []struct {
		section, label, want string
	}{
		{"summary", "Track number", "WBILMTESTTRACK"},
		{"summary", "Created", "2021-11-26 06:22:19 UTC"},
		{"summary", "Customer", "test"},
		{"summary", "Amount", "18.17 USD"},
		{"summary", "Status", "202 Accepted"},
		{"delivery", "Name", "Test Testov"},
		{"delivery", "Phone", "+9720000000"},
		{"delivery", "Address", xss},
		{"delivery", "City", "Kiryat Mozkin"},
		{"payment", "Transaction", "b563feb7b2b84b6test"},
		{"payment", "Request id", "—"}, // empty shows a dash, not a gap
		{"payment", "Amount", "18.17 USD"},
		{"payment", "Delivery cost", "15.00 USD"},
		{"payment", "Goods total", "3.17 USD"},
		{"technical", "Shard key", "9"},
		{"technical", "Internal signature", xss},
	}
	for _, tt := range tests {
		if got := shown(t, doc, tt.section, tt.label); got != tt.want {
			t.Errorf("%s / %s = %q, want %q", tt.section, tt.label, got, tt.want)
		}
	}
	if doc.Find("details#technical").Length() != 1 {
		t.Error("technical fields are not in a details element")
	}
	if dt, _ := doc.Find("#summary time").Attr("datetime"); dt != v.CreatedISO {
		t.Errorf("created datetime = %q, want %q", dt, v.CreatedISO)
	}
	if href, _ := doc.Find(`.order-foot a`).Attr("href"); href != v.JSONHref {
		t.Errorf("JSON link = %q, want %q", href, v.JSONHref)
	}
	if got := doc.Find("#source").Text(); got != v.SourceNote {
		t.Errorf("source note = %q", got)
	}

	rows := doc.Find("#items tbody tr")
	if rows.Length() != len(v.Items) {
		t.Fatalf("%d item rows, want %d", rows.Length(), len(v.Items))
	}
	first := rows.First()
	if got := first.Find(".item-name").Text(); got != xss {
		t.Errorf("item name = %q", got)
	}
	cells := first.Children()
	for i, want := range []string{"0", "4.53 USD", "30%", "3.17 USD", "202 Accepted"} {
		if got := strings.TrimSpace(cells.Eq(i + 1).Text()); got != want {
			t.Errorf("item 0 column %d = %q, want %q", i+1, got, want)
		}
	}
	// Narrow screens show each cell as a labelled line of a card.
	if label, _ := cells.Eq(1).Attr("data-label"); label != "Size" {
		t.Errorf("cell label = %q", label)
	}
	if got := doc.Find("#items-total").Text(); got != v.ItemTotal {
		t.Errorf("items total = %q", got)
	}
	// Sections hold their own values only: the delivery address is not in
	// the payment section.
	if strings.Contains(doc.Find("#payment").Text(), "alert(1)") {
		t.Error("the payment section shows the delivery address")
	}
}

func TestOrderPageInRussian(t *testing.T) {
	v := sampleOrder()
	v.Page = Page{Lang: LangRU, SwitchHref: "/orders/x?lang=en", SwitchLabel: "English", SwitchLang: LangEN}
	doc := renderDoc(t, OrderPage(v))
	if lang, _ := doc.Find("html").Attr("lang"); lang != LangRU {
		t.Errorf("lang = %q", lang)
	}
	if got := shown(t, doc, "delivery", "Адрес"); got != xss {
		t.Errorf("address = %q", got)
	}
	if href, _ := doc.Find("a.lang").Attr("href"); href != "/orders/x?lang=en" {
		t.Errorf("switch = %q", href)
	}
}

func TestParkedPage(t *testing.T) {
	v := ParkedView{
		Page: en(""),
		Kinds: []KindFilter{
			{Label: "All", Class: "all", Count: "2", Href: "/dlq"},
			{Label: "decode", Class: "decode", Count: "1", Href: "/dlq?kind=decode", Current: true},
		},
		Messages: []ParkedRow{{
			Kind: "decode", KindClass: "decode", Reason: Spans("`items[0].price`: not JSON %q", xss),
			Source: Spans("%s, partition %d, offset %d", "orders", 1, 5), ReplayOf: Spans("replay of %s", "orders.dlq/0@3"),
			Time: "2021-11-26 06:22:19 UTC", TimeISO: "2021-11-26T06:22:19Z", Key: "k", Body: xss, BodyLabel: "Message, 25 B",
		}},
		NewestHref: "/dlq", MoreHref: "/dlq?cursor=c",
	}
	doc := renderDoc(t, ParkedPage(v))
	assertNoActiveContent(t, doc)
	row := doc.Find("#parked-list tbody.message")
	if row.Length() != 1 {
		t.Fatalf("%d messages, want 1", row.Length())
	}
	cells := row.Find("tr").First().Find("td")
	for i, want := range []string{"2021-11-26 06:22:19 UTC", "decode", `items[0].price: not JSON "` + xss + `"`, "k", "orders, partition 1, offset 5replay of orders.dlq/0@3"} {
		if got := strings.TrimSpace(cells.Eq(i).Text()); got != want {
			t.Errorf("column %d = %q, want %q", i, got, want)
		}
	}
	if got := row.Find(".reason code").First().Text(); got != "items[0].price" {
		t.Errorf("field path shown as %q, want it as code", got)
	}
	if got := row.Find("details pre.body").Text(); got != xss {
		t.Errorf("body = %q", got)
	}
	if row.Find("details[open]").Length() != 0 {
		t.Error("the body is not folded")
	}
	if got := row.Find("details summary").Text(); got != "Message, 25 B" {
		t.Errorf("summary = %q", got)
	}
	if title, _ := row.Find("time").Attr("title"); title != "2021-11-26 06:22:19 UTC" {
		t.Errorf("time title = %q, want the UTC time on hover", title)
	}
	current := doc.Find(`#kinds a[aria-current="page"]`)
	if current.Length() != 1 || strings.TrimSpace(current.Text()) != "decode 1" {
		t.Errorf("current kind %q", current.Text())
	}
	if href, _ := doc.Find(`a[rel="next"]`).Attr("href"); href != "/dlq?cursor=c" {
		t.Errorf("next = %q", href)
	}
	if href, _ := doc.Find(`a[rel="first"]`).Attr("href"); href != "/dlq" {
		t.Errorf("newest = %q", href)
	}
}

func TestSpans(t *testing.T) {
	tests := []struct {
		format string
		args   []any
		want   string // code in brackets
	}{
		{"plain", nil, "plain"},
		{"no order has uid %q.", []any{"x"}, `no order has uid ["x"].`},
		{"%[2]s then %[1]d", []any{7, "b"}, "[b] then [7]"},
		{"`goods_total` + %d%%", []any{3}, "[goods_total] + [3]%"},
		{"spliced %s here", []any{Plain("words")}, "spliced words here"},
		{"missing %s", nil, "missing [%!s(MISSING)]"},
	}
	for _, tt := range tests {
		var b strings.Builder
		for _, s := range Spans(tt.format, tt.args...) {
			if s.Code {
				b.WriteString("[" + s.S + "]")
			} else {
				b.WriteString(s.S)
			}
		}
		if b.String() != tt.want {
			t.Errorf("Spans(%q) = %q, want %q", tt.format, b.String(), tt.want)
		}
	}
}

func TestErrorPage(t *testing.T) {
	tests := []struct {
		name string
		give ErrorView
	}{
		{"not found", ErrorView{Page: en("nope"), Status: 404, Title: "Order not found", Detail: Spans("No order has the uid %q.", "nope")}},
		{"malformed", ErrorView{Page: en(xss), Status: 400, Title: "Not an order uid", Detail: Spans("%q cannot be an order uid.", "<x>")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, ErrorPage(tt.give))
			assertSearchForm(t, doc, tt.give.Query)
			assertNoActiveContent(t, doc)
			if got := doc.Find("#error h1").Text(); got != tt.give.Title {
				t.Errorf("heading = %q, want %q", got, tt.give.Title)
			}
			if got := doc.Find("#error .detail").Text(); got != tt.give.Detail.String() {
				t.Errorf("detail = %q, want %q", got, tt.give.Detail)
			}
			if got := doc.Find("#error .status").Text(); !strings.Contains(got, strconv.Itoa(tt.give.Status)) {
				t.Errorf("status line = %q, want it to name %d", got, tt.give.Status)
			}
			if href, _ := doc.Find("#error .next a").Attr("href"); href != "/" {
				t.Errorf("next step = %q", href)
			}
		})
	}
}
