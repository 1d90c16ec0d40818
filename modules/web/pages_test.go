package web

import (
	"bytes"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

func page(t *testing.T, resp response) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(resp.body))
	if err != nil {
		t.Fatalf("parse html: %v", err)
	}
	return doc
}

// searchInput is the OrderUID input of the page's GET form, failing the test
// when the page has none.
func searchInput(t *testing.T, doc *goquery.Document) *goquery.Selection {
	t.Helper()
	input := doc.Find(`form input[name="OrderUID"]`)
	if input.Length() != 1 {
		t.Fatalf("%d OrderUID inputs, want 1", input.Length())
	}
	form := input.Closest("form")
	if m, _ := form.Attr("method"); !strings.EqualFold(m, http.MethodGet) {
		t.Errorf("form method = %q, want GET", m)
	}
	if a, _ := form.Attr("action"); a != "/" {
		t.Errorf("form action = %q, want /", a)
	}
	return input
}

// dd is the value next to label in the section with the given id.
func dd(doc *goquery.Document, section, label string) string {
	dt := doc.Find("#" + section + " dt").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return strings.TrimSpace(s.Text()) == label
	})
	return strings.TrimSpace(dt.Next().Text())
}

func TestSearchPage(t *testing.T) {
	resp := newTestEnv(t).do(t, get("/"))
	if resp.status != http.StatusOK {
		t.Fatalf("status %d", resp.status)
	}
	doc := page(t, resp)
	if v, _ := searchInput(t, doc).Attr("value"); v != "" {
		t.Errorf("empty search page prefilled with %q", v)
	}
	if href, _ := doc.Find(`link[rel="stylesheet"]`).Attr("href"); href != "/static/app.css" {
		t.Errorf("stylesheet = %q", href)
	}
}

func TestOrderPageShowsTheOrder(t *testing.T) {
	env := newTestEnv(t)
	for _, target := range []string{"/?OrderUID=" + cachedUID, "/orders/" + cachedUID} {
		t.Run(target, func(t *testing.T) {
			resp := env.do(t, get(target))
			if resp.status != http.StatusOK {
				t.Fatalf("status %d: %s", resp.status, resp.body)
			}
			doc := page(t, resp)
			if v, _ := searchInput(t, doc).Attr("value"); v != cachedUID {
				t.Errorf("search box = %q, want %q", v, cachedUID)
			}
			tests := []struct{ section, label, want string }{
				{"summary", "Track number", "WBILMTESTTRACK"},
				{"summary", "Created", "2021-11-26 06:22:19 UTC"},
				{"summary", "Customer", "test"},
				{"delivery", "Name", "Test Testov"},
				{"delivery", "Address", "Ploshad Mira 15"},
				{"delivery", "City", "Kiryat Mozkin"},
				{"payment", "Amount", "18.17 USD"},
				{"payment", "Delivery cost", "15.00 USD"},
				{"payment", "Goods total", "3.17 USD"},
				{"payment", "Paid at", "2021-11-26 06:22:07 UTC"},
			}
			for _, tt := range tests {
				if got := dd(doc, tt.section, tt.label); got != tt.want {
					t.Errorf("%s / %s = %q, want %q", tt.section, tt.label, got, tt.want)
				}
			}
			row := doc.Find("#items tbody tr")
			if row.Length() != 1 {
				t.Fatalf("%d item rows, want 1", row.Length())
			}
			for i, want := range []string{"Mascaras", "Vivienne Sabo", "0", "4.53 USD", "30%", "3.17 USD"} {
				if got := strings.TrimSpace(row.Find("td").Eq(i).Text()); got != want {
					t.Errorf("item column %d = %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestOrderPageEscapesOrderValues(t *testing.T) {
	resp := newTestEnv(t).do(t, get("/orders/"+xssUID))
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	doc := page(t, resp)
	if n := doc.Find("script").Length(); n != 0 {
		t.Fatalf("%d <script> elements in the page, want none", n)
	}
	if got := dd(doc, "delivery", "Address"); got != xss {
		t.Errorf("address = %q, want it shown as text %q", got, xss)
	}
	if got := strings.TrimSpace(doc.Find("#items tbody tr td").First().Text()); got != xss {
		t.Errorf("item name = %q, want it shown as text %q", got, xss)
	}
}

func TestErrorPages(t *testing.T) {
	tests := []struct {
		name       string
		give       string
		wantStatus int
		wantText   string
		wantTyped  string
	}{
		{"unknown by query", "/?OrderUID=" + unknownUID, 404, `no order with uid "` + unknownUID + `"`, unknownUID},
		{"unknown by path", "/orders/" + unknownUID, 404, `no order with uid "` + unknownUID + `"`, unknownUID},
		{"malformed", "/?OrderUID=a%20b", 400, `malformed OrderUID "a b"`, "a b"},
		{"markup", "/?OrderUID=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400, "malformed OrderUID", xss},
		{"empty", "/?OrderUID=", 400, "OrderUID is empty", ""},
		{"no such page", "/nope", 404, "nothing here", ""},
		{"store down", "/orders/" + storeDown, 500, "try again later", storeDown},
	}
	env := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, get(tt.give))
			if resp.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.status, tt.wantStatus)
			}
			doc := page(t, resp)
			if n := doc.Find("script").Length(); n != 0 {
				t.Errorf("%d <script> elements, want none", n)
			}
			if got := doc.Find("#error").Text(); !strings.Contains(got, tt.wantText) {
				t.Errorf("error text = %q, want it to contain %q", got, tt.wantText)
			}
			if v, _ := searchInput(t, doc).Attr("value"); v != tt.wantTyped {
				t.Errorf("search box = %q, want %q", v, tt.wantTyped)
			}
		})
	}
}

func TestMethodNotAllowedNamesAllowed(t *testing.T) {
	resp := newTestEnv(t).do(t, request{method: http.MethodPost, target: "/api/orders/" + cachedUID})
	if resp.status != http.StatusMethodNotAllowed {
		t.Fatalf("status %d", resp.status)
	}
	if allow := resp.header.Get("Allow"); !strings.Contains(allow, http.MethodGet) {
		t.Errorf("Allow = %q, want it to list GET", allow)
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		give     int64
		currency string
		want     string
	}{
		{1817, "USD", "18.17 USD"},
		{5, "EUR", "0.05 EUR"},
		{0, "RUB", "0.00 RUB"},
		{100, "USD", "1.00 USD"},
		{1500, "JPY", "1500 JPY"},
		{12345, "KWD", "12.345 KWD"},
		{-150, "EUR", "-1.50 EUR"},
		{math.MinInt64, "USD", "-92233720368547758.08 USD"},
	}
	for _, tt := range tests {
		if got := money(tt.give, tt.currency); got != tt.want {
			t.Errorf("money(%d, %s) = %q, want %q", tt.give, tt.currency, got, tt.want)
		}
	}
}

func TestOrderView(t *testing.T) {
	v := orderView(fixture(t).Order)
	if v.UID != cachedUID || v.JSONHref != "/api/orders/"+cachedUID {
		t.Errorf("uid %q, JSON link %q", v.UID, v.JSONHref)
	}
	if v.CreatedISO != "2021-11-26T06:22:19Z" {
		t.Errorf("CreatedISO = %q", v.CreatedISO)
	}
	if len(v.Items) != 1 || v.Items[0].Sale != "30%" || v.Items[0].NmID != "2389212" {
		t.Errorf("items = %+v", v.Items)
	}
}
