package web

import (
	"bytes"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/views"
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

// nb writes a want string with the non-breaking spaces the pages use
// between an amount and its currency.
func nb(s string) string { return strings.ReplaceAll(s, " ", "\u00a0") }

// assertOnlyOwnScripts checks the page runs no script but the app's own
// files: no inline script and nothing from an order turned into markup.
func assertOnlyOwnScripts(t *testing.T, doc *goquery.Document) {
	t.Helper()
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		src, ok := s.Attr("src")
		if !ok || !strings.HasPrefix(src, "/static/") || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("script %q (src %q) is not one of the app's own files", s.Text(), src)
		}
	})
	for _, sel := range []string{"style", "[style]", "iframe", "[onclick]", "[onerror]"} {
		if n := doc.Find(sel).Length(); n != 0 {
			t.Errorf("%d %s in the page, want none", n, sel)
		}
	}
}

func TestHomePage(t *testing.T) {
	env := newTestEnv(t)
	resp := env.do(t, get("/"))
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
	assertOnlyOwnScripts(t, doc)
	// Newest first: the fixture (2021) is older than none of the others,
	// which share its date; ties go by uid, greatest first.
	links := doc.Find("#recent-orders tbody tr a")
	var got []string
	links.Each(func(_ int, s *goquery.Selection) { got = append(got, s.AttrOr("href", "")) })
	want := []string{"/orders/" + xssUID, "/orders/" + uncachedUID, "/orders/" + cachedUID}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("recent links = %v, want %v", got, want)
	}
	row := doc.Find("#recent-orders tbody tr").Last()
	for i, want := range []string{"2021-11-26 06:22:19 UTC", cachedUID, "test", nb("18.17 USD"), "1", "WBILMTESTTRACK"} {
		if got := strings.TrimSpace(row.Find("td").Eq(i).Text()); got != want {
			t.Errorf("row column %d = %q, want %q", i, got, want)
		}
	}
	if doc.Find("#example").Length() != 0 {
		t.Error("the reference-order example shows beside a list of orders")
	}
	if src, _ := doc.Find("#recent").Attr("sse-connect"); src != "/live/orders" {
		t.Errorf("live source = %q", src)
	}
}

func TestHomePageEmptyOffersTheReferenceOrder(t *testing.T) {
	env := newTestEnv(t)
	env.deps.Recent = &fakeRecent{orders: &fakeOrders{}}
	for _, recent := range []Recent{&fakeRecent{orders: &fakeOrders{}}, nil} {
		env.deps.Recent = recent
		env.app = env.newApp(Config{})
		doc := page(t, env.do(t, get("/")))
		if href, _ := doc.Find("#example a").Attr("href"); href != "/orders/"+ReferenceUID {
			t.Errorf("recent %T: example link = %q", recent, href)
		}
		if n := doc.Find("#recent-orders tbody tr").Length(); n != 0 {
			t.Errorf("%d rows in an empty list", n)
		}
	}
}

func TestSearchBox(t *testing.T) {
	env := newTestEnv(t)
	// A second order by the same customer makes "customer" a many-match.
	env.orders.put(withUID(t, "second-order", func(o *order.Order) {
		o.TrackNumber, o.Delivery.Phone = "TRACK-2", "+7 900 111-22-33"
		o.DateCreated = o.DateCreated.Add(time.Hour)
	}))
	env.orders.put(withUID(t, "third-order", func(o *order.Order) {
		o.TrackNumber, o.Delivery.Phone, o.CustomerID = "TRACK-3", "+79005554433", "third"
	}))
	env.orders.put(withUID(t, "fourth-order", func(o *order.Order) {
		o.TrackNumber, o.Delivery.Phone, o.CustomerID = "TRACK-4", "88005553535", "fourth"
	}))
	tests := []struct {
		name      string
		give      string
		wantOrder string   // the order page shown, or
		wantList  []string // the uids listed
	}{
		{"uid", cachedUID, cachedUID, nil},
		{"uid with spaces", "%20" + cachedUID + "%0A", cachedUID, nil},
		{"track number", "TRACK-2", "second-order", nil},
		{"phone with spaces inside", "%2B7%20900%20111-22-33", "second-order", nil},
		{"transaction", uncachedUID, uncachedUID, nil},
		{"customer id, several", "test", "", []string{"second-order", xssUID, uncachedUID, cachedUID}},
		{"track number, several", "WBILMTESTTRACK", "", []string{xssUID, uncachedUID, cachedUID}},
		{"track number in lower case", "track-2", "second-order", nil},
		{"track number in mixed case", "%20WbIlmTestTrack", "", []string{xssUID, uncachedUID, cachedUID}},
		{"phone without its +", "79005554433", "third-order", nil},
		{"phone with a + it lacks", "%2B88005553535", "fourth-order", nil},
		{"phone written with spaces", "%2B7%20(900)%20555-44-33", "third-order", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, get("/?OrderUID="+tt.give))
			if resp.status != http.StatusOK {
				t.Fatalf("status %d: %.300s", resp.status, resp.body)
			}
			doc := page(t, resp)
			if tt.wantOrder != "" {
				if got := strings.TrimSpace(doc.Find("h1 .uid").Text()); got != tt.wantOrder {
					t.Errorf("order page of %q, want %q", got, tt.wantOrder)
				}
				return
			}
			var got []string
			doc.Find("#results tbody a").Each(func(_ int, s *goquery.Selection) { got = append(got, s.Text()) })
			if strings.Join(got, " ") != strings.Join(tt.wantList, " ") {
				t.Errorf("listed %v, want %v", got, tt.wantList)
			}
		})
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
			if got := resp.header.Get("X-Source"); got != "cache" {
				t.Errorf("X-Source = %q, want cache", got)
			}
			doc := page(t, resp)
			assertOnlyOwnScripts(t, doc)
			if v, _ := searchInput(t, doc).Attr("value"); v != cachedUID {
				t.Errorf("search box = %q, want %q", v, cachedUID)
			}
			tests := []struct{ section, label, want string }{
				{"summary", "Track number", "WBILMTESTTRACK"},
				{"summary", "Created", "2021-11-26 06:22:19 UTC"},
				{"summary", "Customer", "test"},
				{"summary", "Amount", nb("18.17 USD")},
				{"summary", "Status", "202 Accepted"},
				{"delivery", "Name", "Test Testov"},
				{"delivery", "Address", "Ploshad Mira 15"},
				{"delivery", "City", "Kiryat Mozkin"},
				{"payment", "Amount", nb("18.17 USD")},
				{"payment", "Delivery cost", nb("15.00 USD")},
				{"payment", "Goods total", nb("3.17 USD")},
				{"payment", "Paid at", "2021-11-26 06:22:07 UTC"},
				{"technical", "Shard key", "9"},
				{"technical", "sm_id", "99"},
				{"technical", "oof_shard", "1"},
			}
			for _, tt := range tests {
				if got := dd(doc, tt.section, tt.label); got != tt.want {
					t.Errorf("%s / %s = %q, want %q", tt.section, tt.label, got, tt.want)
				}
			}
			if iso, _ := doc.Find("#summary time").Attr("datetime"); iso != "2021-11-26T06:22:19Z" {
				t.Errorf("created datetime = %q", iso)
			}
			// Technical fields are out of the summary.
			if doc.Find("#summary dt").FilterFunction(func(_ int, s *goquery.Selection) bool {
				return strings.TrimSpace(s.Text()) == "Shard key"
			}).Length() != 0 {
				t.Error("shard key in the summary")
			}
			if doc.Find("details#technical").Length() != 1 {
				t.Error("no details element for the technical fields")
			}
			row := doc.Find("#items tbody tr")
			if row.Length() != 1 {
				t.Fatalf("%d item rows, want 1", row.Length())
			}
			if got := strings.TrimSpace(row.Find(".item-name").Text()); got != "Mascaras" {
				t.Errorf("item name = %q", got)
			}
			for i, want := range []string{"0", nb("4.53 USD"), "30%", nb("3.17 USD"), "202 Accepted"} {
				if got := strings.TrimSpace(row.Find("td").Eq(i + 1).Text()); got != want {
					t.Errorf("item column %d = %q, want %q", i+1, got, want)
				}
			}
			if got := strings.TrimSpace(doc.Find("#items-total").Text()); got != nb("3.17 USD") {
				t.Errorf("items total = %q", got)
			}
			if got := dd(doc, "items", "nm_id"); got != "2389212" {
				t.Errorf("item nm id = %q", got)
			}
			if got := strings.TrimSpace(doc.Find("#source").Text()); got != "Served from the cache" {
				t.Errorf("source note = %q", got)
			}
		})
	}
	resp := env.do(t, get("/orders/"+uncachedUID))
	if got := resp.header.Get("X-Source"); got != "database" {
		t.Errorf("uncached X-Source = %q, want database", got)
	}
	if got := strings.TrimSpace(page(t, resp).Find("#source").Text()); got != "Served from the database" {
		t.Errorf("uncached source note = %q", got)
	}
}

func TestOrderPageEscapesOrderValues(t *testing.T) {
	resp := newTestEnv(t).do(t, get("/orders/"+xssUID))
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	doc := page(t, resp)
	assertOnlyOwnScripts(t, doc)
	if got := dd(doc, "delivery", "Address"); got != xss {
		t.Errorf("address = %q, want it shown as text %q", got, xss)
	}
	if got := strings.TrimSpace(doc.Find("#items .item-name").First().Text()); got != xss {
		t.Errorf("item name = %q, want it shown as text %q", got, xss)
	}
	home := page(t, newTestEnv(t).do(t, get("/")))
	assertOnlyOwnScripts(t, home)
}

func TestLanguage(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name       string
		target     string
		header     map[string]string
		wantLang   string
		wantSwitch string
	}{
		{"default", "/orders/" + cachedUID, nil, "en", "/orders/" + cachedUID + "?lang=ru"},
		{"accept-language", "/orders/" + cachedUID, map[string]string{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}, "ru", "/orders/" + cachedUID + "?lang=en"},
		{"switch keeps the query", "/?OrderUID=" + cachedUID + "&lang=ru", nil, "ru", "/?OrderUID=" + cachedUID + "&lang=en"},
		{"cookie", "/", map[string]string{"Cookie": "lang=ru"}, "ru", "/?lang=en"},
		{"query beats cookie", "/?lang=en", map[string]string{"Cookie": "lang=ru"}, "en", "/?lang=ru"},
		{"unknown language", "/?lang=xx", nil, "en", "/?lang=ru"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, request{method: http.MethodGet, target: tt.target, header: tt.header})
			doc := page(t, resp)
			if got, _ := doc.Find("html").Attr("lang"); got != tt.wantLang {
				t.Errorf("lang = %q, want %q", got, tt.wantLang)
			}
			if got, _ := doc.Find("a.lang").Attr("href"); got != tt.wantSwitch {
				t.Errorf("switch = %q, want %q", got, tt.wantSwitch)
			}
		})
	}
	resp := env.do(t, get("/orders/"+cachedUID+"?lang=ru"))
	if c := resp.header.Get("Set-Cookie"); !strings.Contains(c, "lang=ru") {
		t.Errorf("Set-Cookie = %q, want the choice remembered", c)
	}
	doc := page(t, resp)
	if got := dd(doc, "delivery", "Адрес"); got != "Ploshad Mira 15" {
		t.Errorf("Russian page: address = %q", got)
	}
	if got := dd(doc, "summary", "Сумма"); got != "18,17\u00a0USD" {
		t.Errorf("Russian amount = %q", got)
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
		{"unknown by query", "/?OrderUID=" + unknownUID, 404, `No order has "` + unknownUID + `" as its uid, track number, transaction, customer id or phone.`, unknownUID},
		{"unknown by path", "/orders/" + unknownUID, 404, `No order has the uid "` + unknownUID + `".`, unknownUID},
		{"no match", "/?OrderUID=a%20b", 404, `"a b"`, "a b"},
		{"markup", "/?OrderUID=" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404, "No order has", xss},
		{"empty", "/?OrderUID=", 400, "The search box was empty", ""},
		{"too long", "/?OrderUID=" + strings.Repeat("x", 129), 400, "at most 128", clip(strings.Repeat("x", 129))},
		{"malformed path", "/orders/a%20b", 400, `"a b" cannot be an order uid: character 2 is a space, and an order uid is only Latin letters, digits, "_" or "-".`, "a b"},
		{"no such page", "/nope", 404, `There is no page at "/nope".`, ""},
		{"store down", "/orders/" + storeDown, 500, "Try again later", storeDown},
		{"search down", "/?OrderUID=" + searchDown, 500, "Try again later", searchDown},
	}
	env := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, get(tt.give))
			if resp.status != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.status, tt.wantStatus)
			}
			doc := page(t, resp)
			assertOnlyOwnScripts(t, doc)
			if got := doc.Find("#error").Text(); !strings.Contains(got, tt.wantText) {
				t.Errorf("error text = %q, want it to contain %q", got, tt.wantText)
			}
			if strings.Contains(string(resp.body), "db.internal") {
				t.Error("the page shows the store's error")
			}
			if v, _ := searchInput(t, doc).Attr("value"); v != tt.wantTyped {
				t.Errorf("search box = %q, want %q", v, tt.wantTyped)
			}
			if href, _ := doc.Find("#error .next a").Attr("href"); href != "/" {
				t.Errorf("next step link = %q, want /", href)
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
		lang     string
		want     string
	}{
		{1817, "USD", "en", "18.17 USD"},
		{5, "EUR", "en", "0.05 EUR"},
		{0, "RUB", "en", "0.00 RUB"},
		{100, "USD", "en", "1.00 USD"},
		{1500, "JPY", "en", "1,500 JPY"},
		{12345, "KWD", "en", "12.345 KWD"},
		{-150, "EUR", "en", "-1.50 EUR"},
		{123456789, "USD", "en", "1,234,567.89 USD"},
		{100000, "USD", "en", "1,000.00 USD"},
		{99999, "USD", "en", "999.99 USD"},
		{123456789, "RUB", "ru", "1\u202f234\u202f567,89 RUB"},
		{math.MinInt64, "USD", "en", "-92,233,720,368,547,758.08 USD"},
	}
	for _, tt := range tests {
		if got := money(tt.give, tt.currency, tt.lang); got != nb(tt.want) {
			t.Errorf("money(%d, %s, %s) = %q, want %q", tt.give, tt.currency, tt.lang, got, nb(tt.want))
		}
	}
}

func TestOrderView(t *testing.T) {
	v := orderView(fixture(t).Order, views.Page{Lang: views.LangEN}, false)
	if v.UID != cachedUID || v.JSONHref != "/api/orders/"+cachedUID {
		t.Errorf("uid %q, JSON link %q", v.UID, v.JSONHref)
	}
	if v.CreatedISO != "2021-11-26T06:22:19Z" {
		t.Errorf("CreatedISO = %q", v.CreatedISO)
	}
	if len(v.Items) != 1 || v.Items[0].Sale != "30%" || v.Items[0].Technical[1].Value != "2389212" {
		t.Errorf("items = %+v", v.Items)
	}
	if v.StatusClass != "status-ok" {
		t.Errorf("status class %q", v.StatusClass)
	}
}

func TestHomePageFocusesTheSearchBox(t *testing.T) {
	env := newTestEnv(t)
	doc := page(t, env.do(t, get("/")))
	input := searchInput(t, doc)
	if _, ok := input.Attr("autofocus"); !ok {
		t.Error("the home page's search box is not focused")
	}
	if ph, _ := input.Attr("placeholder"); ph != "e.g. WBILMTESTTRACK" {
		t.Errorf("placeholder %q, want a hint", ph)
	}
	// Elsewhere the box holds what was asked, and the page is what to read.
	if _, ok := searchInput(t, page(t, env.do(t, get("/orders/"+cachedUID)))).Attr("autofocus"); ok {
		t.Error("the order page takes the focus to the search box")
	}
	ru := page(t, env.do(t, get("/?lang=ru")))
	if ph, _ := searchInput(t, ru).Attr("placeholder"); ph != "напр. WBILMTESTTRACK" {
		t.Errorf("Russian placeholder %q", ph)
	}
}

// TestItemStatusesOneWay shows every status as its code, with its name
// where the name is known: the same way in the summary and in the items.
func TestItemStatusesOneWay(t *testing.T) {
	env := newTestEnv(t)
	env.orders.put(withUID(t, "three-statuses", func(o *order.Order) {
		o.Items = append(o.Items, o.Items[0], o.Items[0])
		o.Items[1].Status, o.Items[2].Status = 201, 200
		o.Items[1].Price, o.Items[1].TotalPrice = 0, 0
		o.Items[2].Price, o.Items[2].TotalPrice = 0, 0
	}))
	doc := page(t, env.do(t, get("/orders/three-statuses")))
	if got := dd(doc, "summary", "Status"); got != "202 Accepted, 201, 200" {
		t.Errorf("summary status %q", got)
	}
	var items []string
	doc.Find("#items tbody tr").Each(func(_ int, s *goquery.Selection) {
		items = append(items, strings.TrimSpace(s.Find(`td[data-label="Status"]`).Text()))
	})
	if strings.Join(items, ", ") != "202 Accepted, 201, 200" {
		t.Errorf("item statuses %q", items)
	}
}

// TestTimesOnce writes each time once: UTC in the page, the same UTC in the
// title that stays on hover once app.js writes the viewer's zone.
func TestTimesOnce(t *testing.T) {
	doc := page(t, newTestEnv(t).do(t, get("/orders/"+cachedUID)))
	times := doc.Find("#summary time")
	if times.Length() != 1 {
		t.Fatalf("%d times in the summary, want 1", times.Length())
	}
	if title, _ := times.Attr("title"); title != "2021-11-26 06:22:19 UTC" || times.Text() != title {
		t.Errorf("time %q titled %q", times.Text(), title)
	}
	if got := dd(doc, "summary", "Created"); got != "2021-11-26 06:22:19 UTC" {
		t.Errorf("created cell %q: one time, nothing beside it", got)
	}
	js, err := static.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), "timeZoneName") || strings.Contains(string(js), "after(") {
		t.Error("app.js does not write the time in place with its zone")
	}
}
