package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/marketplace/orders/modules/order"
)

// manyOrders adds n orders by customer "bulk", one a minute apart, the
// newest first in uid order bulk-000 ... and returns their uids newest first.
func manyOrders(t *testing.T, env *testEnv, n int) []string {
	t.Helper()
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	uids := make([]string, n)
	for i := range n {
		uid := fmt.Sprintf("bulk-%03d", i)
		env.orders.put(withUID(t, uid, func(o *order.Order) {
			o.CustomerID = "bulk"
			o.DateCreated = base.Add(-time.Duration(i) * time.Minute)
		}))
		uids[i] = uid
	}
	return uids
}

func decodePage(t *testing.T, resp response) ([]string, string) {
	t.Helper()
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var body struct {
		Orders     []order.Order `json:"orders"`
		NextCursor *string       `json:"next_cursor"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil {
		t.Fatalf("%v: %s", err, resp.body)
	}
	if body.NextCursor == nil || body.Orders == nil {
		t.Fatalf("orders or next_cursor missing: %s", resp.body)
	}
	uids := make([]string, len(body.Orders))
	for i, o := range body.Orders {
		uids[i] = o.OrderUID
	}
	return uids, *body.NextCursor
}

func TestSearchPagesThroughEveryMatch(t *testing.T) {
	env := newTestEnv(t)
	want := manyOrders(t, env, 45)
	var got []string
	target := "/api/orders?customer_id=bulk"
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("the cursor never ends")
		}
		uids, next := decodePage(t, env.do(t, get(target)))
		if len(uids) > defaultListLimit {
			t.Fatalf("%d orders in one page, want at most %d", len(uids), defaultListLimit)
		}
		got = append(got, uids...)
		if next == "" {
			break
		}
		target = "/api/orders?customer_id=bulk&cursor=" + url.QueryEscape(next)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paged through %v,\nwant %v", got, want)
	}
}

func TestSearchParameters(t *testing.T) {
	env := newTestEnv(t)
	manyOrders(t, env, 3)
	search := env.deps.Search.(*fakeSearch)
	uids, next := decodePage(t, env.do(t, get("/api/orders?customer_id=%20bulk%20&limit=2&track_number=WBILMTESTTRACK")))
	if strings.Join(uids, " ") != "bulk-000 bulk-001" || next == "" {
		t.Errorf("got %v next %q", uids, next)
	}
	f := search.lastFilter()
	if f.CustomerID != "bulk" || f.TrackNumber != "WBILMTESTTRACK" || f.Limit != 2 || f.After != nil {
		t.Errorf("filter = %+v", f)
	}
	key, err := decodeCursor(next)
	if err != nil || key.UID != "bulk-001" || !key.DateCreated.Equal(time.Date(2023, 12, 31, 23, 59, 0, 0, time.UTC)) {
		t.Errorf("cursor %q reads as %+v, %v", next, key, err)
	}
	if resp := env.do(t, get("/api/orders?phone=nobody")); resp.status != 200 || !strings.Contains(string(resp.body), `"orders":[]`) {
		t.Errorf("no match: %d %s", resp.status, resp.body)
	}
	if got := env.do(t, get("/api/orders")).header.Get("X-Source"); got != "database" {
		t.Errorf("X-Source = %q", got)
	}
}

func TestSearchBadParameters(t *testing.T) {
	env := newTestEnv(t)
	good := encodeCursor(&order.Key{DateCreated: time.Now(), UID: "abc"})
	tests := []struct {
		give, param string
	}{
		{"limit=0", "limit"},
		{"limit=101", "limit"},
		{"limit=abc", "limit"},
		{"limit=", "limit"},
		{"limit=-1", "limit"},
		{"limit=1e2", "limit"},
		{"cursor=", "cursor"},
		{"cursor=%21%21", "cursor"},
		{"cursor=" + good + "x", "cursor"},
		{"cursor=" + encodeRaw("2024-01-01T00:00:00Z|bad uid"), "cursor"},
		{"cursor=" + encodeRaw("yesterday|abc"), "cursor"},
		{"cursor=" + encodeRaw("2024-01-01T00:00:00Z"), "cursor"},
		{"phone=" + strings.Repeat("9", 129), "phone"},
		{"track_number=%FF", "track_number"},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			resp := env.do(t, get("/api/orders?"+tt.give))
			if resp.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.status, resp.body)
			}
			assertProblem(t, resp)
			var p problem
			_ = json.Unmarshal(resp.body, &p)
			if !strings.Contains(p.Detail, tt.param) {
				t.Errorf("detail %q does not name %s", p.Detail, tt.param)
			}
		})
	}
	if resp := env.do(t, get("/api/orders?cursor="+good+"&limit=100")); resp.status != http.StatusOK {
		t.Errorf("a good cursor and limit 100: status %d", resp.status)
	}
}

func encodeRaw(s string) string {
	return url.QueryEscape(strings.TrimRight(b64(s), "="))
}

func TestListingsWithoutTheirBackends(t *testing.T) {
	env := newTestEnv(t)
	env.deps.Search, env.deps.Parked = nil, nil
	env.app = env.newApp(Config{})
	for _, target := range []string{"/api/orders", "/api/dlq"} {
		resp := env.do(t, get(target))
		if resp.status != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", target, resp.status)
		}
		assertProblem(t, resp)
	}
	doc := page(t, env.do(t, get("/dlq")))
	if doc.Find("#unavailable").Length() != 1 {
		t.Error("the DLQ page does not say the listing is unavailable")
	}
	// The search box still finds by uid.
	if resp := env.do(t, get("/?OrderUID="+cachedUID)); resp.status != http.StatusOK {
		t.Errorf("search by uid without a Searcher: %d", resp.status)
	}
}

func TestParkedListing(t *testing.T) {
	env := newTestEnv(t)
	parked := env.deps.Parked.(*fakeParked)
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("X", 3600))
	long := strings.Repeat("a", maxBodyShown+10)
	parked.items = []order.Parked{
		{Kind: order.KindDecode, Reason: "not JSON", Topic: "orders", Partition: 2, Offset: 41, Time: at, Key: []byte("k1"), Body: []byte(xss)},
		{Kind: order.KindValidation, Reason: "payment.amount: negative", Topic: "orders", Partition: 0, Offset: 7, Time: at, Key: []byte{0xff, 'k'}, Body: []byte(long)},
		{Kind: order.KindConflict, Reason: "a different order is stored under this uid", Topic: "orders", Partition: 1, Offset: 3, Time: at},
	}
	resp := env.do(t, get("/api/dlq?limit=2"))
	if resp.status != http.StatusOK {
		t.Fatalf("status %d: %s", resp.status, resp.body)
	}
	var got parkedPage
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 || got.NextCursor != "p2" {
		t.Fatalf("got %d messages, next %q", len(got.Messages), got.NextCursor)
	}
	m := got.Messages[0]
	if m.Kind != "decode" || m.Reason != "not JSON" || m.Partition != 2 || m.Offset != 41 || m.Key != "k1" || m.Body != xss || m.Clipped {
		t.Errorf("first = %+v", m)
	}
	if !m.Time.Equal(at) || m.Time.Location() != time.UTC {
		t.Errorf("time = %v, want %v in UTC", m.Time, at)
	}
	m = got.Messages[1]
	if !m.Clipped || len(m.Body) > maxBodyShown+len("…") || !strings.HasSuffix(m.Body, "…") {
		t.Errorf("long body not clipped: clipped=%v len=%d", m.Clipped, len(m.Body))
	}
	if m.Key != "\uFFFDk" {
		t.Errorf("invalid UTF-8 key = %q", m.Key)
	}
	resp = env.do(t, get("/api/dlq?cursor=p2"))
	if err := json.Unmarshal(resp.body, &got); err != nil || len(got.Messages) != 1 || got.NextCursor != "" {
		t.Errorf("second page: %s", resp.body)
	}

	doc := page(t, env.do(t, get("/dlq?limit=2")))
	assertOnlyOwnScripts(t, doc)
	if n := doc.Find(".parked li").Length(); n != 2 {
		t.Errorf("%d parked messages on the page, want 2", n)
	}
	if body := doc.Find(".parked pre.body").First().Text(); body != xss {
		t.Errorf("body shown as %q", body)
	}
	var sources []string
	doc.Find(".parked li dt").Each(func(_ int, s *goquery.Selection) {
		if strings.TrimSpace(s.Text()) == "Source" {
			sources = append(sources, strings.TrimSpace(s.Next().Text()))
		}
	})
	if strings.Join(sources, ", ") != "orders / 2 @ 41, orders / 0 @ 7" {
		t.Errorf("sources = %q", sources)
	}
	if href, _ := doc.Find(`a[rel="next"]`).Attr("href"); href != "/dlq?cursor=p2" {
		t.Errorf("next link = %q", href)
	}
	for _, target := range []string{"/api/dlq?cursor=nope", "/dlq?cursor=nope", "/api/dlq?cursor=" + strings.Repeat("p", 600)} {
		if resp := env.do(t, get(target)); resp.status != http.StatusBadRequest || !strings.Contains(string(resp.body), "cursor") {
			t.Errorf("%s: status %d, want 400 naming the cursor", target, resp.status)
		}
	}
}
