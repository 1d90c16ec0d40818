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
// Policy forbids, and that no value turned into markup.
func assertNoActiveContent(t *testing.T, doc *goquery.Document) {
	t.Helper()
	for _, sel := range []string{"script", "style", "[style]", "iframe", "[onclick]", "[onerror]"} {
		if n := doc.Find(sel).Length(); n != 0 {
			t.Errorf("%d %s in the page, want none", n, sel)
		}
	}
	if href, ok := doc.Find(`link[rel="stylesheet"]`).Attr("href"); !ok || !strings.HasPrefix(href, "/") {
		t.Errorf("stylesheet link = %q, want a same-origin path", href)
	}
}

func sampleOrder() OrderView {
	return OrderView{
		UID:             "b563feb7b2b84b6test",
		TrackNumber:     "WBILMTESTTRACK",
		Entry:           "WBIL",
		Created:         "2021-11-26 06:22:19 UTC",
		CreatedISO:      "2021-11-26T06:22:19Z",
		CustomerID:      "test",
		Locale:          "en",
		DeliveryService: "meest",
		ShardKey:        "9",
		SmID:            "99",
		OofShard:        "1",
		JSONHref:        "/api/orders/b563feb7b2b84b6test",
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
				ChrtID: "9934930", NmID: "2389212", Rid: "ab4219087a764ae0btest", TrackNumber: "WBILMTESTTRACK", Status: "202"},
			{Name: "Lipstick", Brand: "Sabo", Size: "M", Price: "1.00 USD", Sale: "0%", TotalPrice: "1.00 USD",
				ChrtID: "1", NmID: "2", Rid: "r2", TrackNumber: "WBILMTESTTRACK", Status: "202"},
		},
	}
}

func TestSearchPage(t *testing.T) {
	doc := renderDoc(t, SearchPage(SearchView{Query: `"><b>x</b>`}))
	assertSearchForm(t, doc, `"><b>x</b>`)
	assertNoActiveContent(t, doc)
	if n := doc.Find("b").Length(); n != 0 {
		t.Errorf("query became markup: %d <b> elements", n)
	}
	if got := doc.Find("title").Text(); !strings.Contains(got, "Find an order") {
		t.Errorf("title = %q", got)
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
		{"summary", "Entry", "WBIL"},
		{"summary", "Created", "2021-11-26 06:22:19 UTC"},
		{"summary", "Customer", "test"},
		{"summary", "Delivery service", "meest"},
		{"delivery", "Name", "Test Testov"},
		{"delivery", "Phone", "+9720000000"},
		{"delivery", "Address", xss},
		{"delivery", "City", "Kiryat Mozkin"},
		{"payment", "Transaction", "b563feb7b2b84b6test"},
		{"payment", "Request id", "—"}, // empty shows a dash, not a gap
		{"payment", "Amount", "18.17 USD"},
		{"payment", "Delivery cost", "15.00 USD"},
		{"payment", "Goods total", "3.17 USD"},
	}
	for _, tt := range tests {
		if got := shown(t, doc, tt.section, tt.label); got != tt.want {
			t.Errorf("%s / %s = %q, want %q", tt.section, tt.label, got, tt.want)
		}
	}
	if dt, _ := doc.Find("#summary time").Attr("datetime"); dt != v.CreatedISO {
		t.Errorf("created datetime = %q, want %q", dt, v.CreatedISO)
	}
	if href, _ := doc.Find(`#summary a`).Attr("href"); href != v.JSONHref {
		t.Errorf("JSON link = %q, want %q", href, v.JSONHref)
	}

	rows := doc.Find("#items tbody tr")
	if rows.Length() != len(v.Items) {
		t.Fatalf("%d item rows, want %d", rows.Length(), len(v.Items))
	}
	first := rows.First().Find("td")
	for i, want := range []string{xss, "Vivienne Sabo", "0", "4.53 USD", "30%", "3.17 USD", "2389212", "9934930"} {
		if got := strings.TrimSpace(first.Eq(i).Text()); got != want {
			t.Errorf("item 0 column %d = %q, want %q", i, got, want)
		}
	}
	// Sections hold their own values only: the delivery address is not in
	// the payment section.
	if strings.Contains(doc.Find("#payment").Text(), "alert(1)") {
		t.Error("the payment section shows the delivery address")
	}
}

func TestErrorPage(t *testing.T) {
	tests := []struct {
		name string
		give ErrorView
	}{
		{"not found", ErrorView{Status: 404, Title: "Order not found", Detail: `no order with uid "nope"`, Query: "nope"}},
		{"malformed", ErrorView{Status: 400, Title: "Malformed order uid", Detail: `malformed OrderUID "<x>"`, Query: xss}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := renderDoc(t, ErrorPage(tt.give))
			assertSearchForm(t, doc, tt.give.Query)
			assertNoActiveContent(t, doc)
			if got := doc.Find("#error h1").Text(); got != tt.give.Title {
				t.Errorf("heading = %q, want %q", got, tt.give.Title)
			}
			if got := doc.Find("#error .detail").Text(); got != tt.give.Detail {
				t.Errorf("detail = %q, want %q", got, tt.give.Detail)
			}
			if got := doc.Find("#error .status").Text(); !strings.Contains(got, strconv.Itoa(tt.give.Status)) {
				t.Errorf("status line = %q, want it to name %d", got, tt.give.Status)
			}
		})
	}
}
