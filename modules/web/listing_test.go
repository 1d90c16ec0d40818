package web

import (
	"context"
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
	// A cursor of 33 bytes encodes to 44 characters, so one more character
	// can never decode. With time.Now() the length varied with the trailing
	// zeros of the nanoseconds, and the extra "x" sometimes made a valid
	// cursor for uid "abc1".
	good := encodeCursor(&order.Key{DateCreated: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), UID: "abcde"})
	if len(good)%4 != 0 {
		t.Fatalf("the tampered cursor below could decode: %d characters", len(good))
	}
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

// parkedSample is a DLQ of three kinds: a decode reject, a validation
// reject with a long body, a conflict, and a validation reject that is a
// replay.
func parkedSample() []order.Parked {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("X", 3600))
	long := `{"order_uid":"` + strings.Repeat("a", maxBodyShown) + `"}`
	return []order.Parked{
		{Kind: order.KindDecode, Reason: "message is not JSON", Topic: "orders", Partition: 2, Offset: 41, Time: at, Key: []byte("k1"), Body: []byte(xss), Size: len(xss)},
		{Kind: order.KindValidation, Reason: "payment.amount: must not be negative, got -1", Topic: "orders", Partition: 0, Offset: 7, Time: at, Key: []byte{0xff, 'k'}, Body: []byte(long), Size: 900 << 10},
		{Kind: order.KindConflict, Reason: `order_uid: a different order is already stored under "b563"`, Topic: "orders", Partition: 1, Offset: 3, Time: at},
		{Kind: order.KindValidation, Reason: "items: must have at least one item", Topic: "orders", Partition: 1, Offset: 95, Time: at,
			Key: []byte("k4"), Body: []byte(`{"order_uid":"k4","items":[]}`), Size: 29, ReplayOf: "orders.dlq/1@0"},
	}
}

func TestParkedListingAPI(t *testing.T) {
	env := newTestEnv(t)
	parked := env.deps.Parked.(*fakeParked)
	parked.items = parkedSample()
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
	if fmt.Sprint(got.Counts) != "map[conflict:1 decode:1 validation:2]" {
		t.Errorf("counts %v", got.Counts)
	}
	m := got.Messages[0]
	if m.Kind != "decode" || m.Reason != "message is not JSON" || m.Partition != 2 || m.Offset != 41 || m.Key != "k1" || m.Body != xss || m.Clipped || m.Size != len(xss) {
		t.Errorf("first = %+v", m)
	}
	if !m.Time.Equal(parkedSample()[0].Time) || m.Time.Location() != time.UTC {
		t.Errorf("time = %v, want it in UTC", m.Time)
	}
	m = got.Messages[1]
	if !m.Clipped || len(m.Body) > maxBodyShown+len("…") || !strings.HasSuffix(m.Body, "…") || m.Size != 900<<10 {
		t.Errorf("long body: clipped=%v len=%d size=%d", m.Clipped, len(m.Body), m.Size)
	}
	if m.Key != "\uFFFDk" {
		t.Errorf("invalid UTF-8 key = %q", m.Key)
	}
	resp = env.do(t, get("/api/dlq?cursor=p2"))
	if err := json.Unmarshal(resp.body, &got); err != nil || len(got.Messages) != 2 || got.NextCursor != "" {
		t.Errorf("second page: %s", resp.body)
	}
	if got.Messages[1].ReplayOf != "orders.dlq/1@0" {
		t.Errorf("replay_of = %q", got.Messages[1].ReplayOf)
	}

	// One kind, its counts still of every kind.
	resp = env.do(t, get("/api/dlq?kind=validation"))
	if err := json.Unmarshal(resp.body, &got); err != nil || len(got.Messages) != 2 || got.Counts["decode"] != 1 {
		t.Fatalf("validation only: %s", resp.body)
	}
	for _, m := range got.Messages {
		if m.Kind != "validation" {
			t.Errorf("kind=validation lists a %s", m.Kind)
		}
	}
	for _, target := range []string{"/api/dlq?kind=nope", "/api/dlq?kind=", "/api/dlq?kind=Decode"} {
		resp := env.do(t, get(target))
		if resp.status != http.StatusBadRequest || !strings.Contains(string(resp.body), "kind") {
			t.Errorf("%s: status %d, want 400 naming the kind: %s", target, resp.status, resp.body)
		}
		assertProblem(t, resp)
	}
	for _, target := range []string{"/api/dlq?cursor=nope", "/dlq?cursor=nope", "/api/dlq?cursor=" + strings.Repeat("p", 600)} {
		if resp := env.do(t, get(target)); resp.status != http.StatusBadRequest || !strings.Contains(string(resp.body), "cursor") {
			t.Errorf("%s: status %d, want 400 naming the cursor", target, resp.status)
		}
	}
}

func TestParkedListingPage(t *testing.T) {
	env := newTestEnv(t)
	env.deps.Parked.(*fakeParked).items = parkedSample()
	doc := page(t, env.do(t, get("/dlq?limit=2")))
	assertOnlyOwnScripts(t, doc)
	rows := doc.Find("#parked-list tbody.message")
	if rows.Length() != 2 {
		t.Fatalf("%d parked messages on the page, want 2", rows.Length())
	}
	// A table: time, kind, reason, key, source.
	var heads []string
	doc.Find("#parked-list thead th").Each(func(_ int, s *goquery.Selection) { heads = append(heads, s.Text()) })
	if strings.Join(heads, ", ") != "Time, Kind, Reason, Key, Source" {
		t.Errorf("columns %v", heads)
	}
	var sources []string
	rows.Find("td.source").Each(func(_ int, s *goquery.Selection) { sources = append(sources, strings.TrimSpace(s.Text())) })
	if strings.Join(sources, "; ") != "orders, partition 2, offset 41; orders, partition 0, offset 7" {
		t.Errorf("sources = %q", sources)
	}
	if got := rows.Eq(1).Find("td.reason code").Text(); got != "payment.amount" {
		t.Errorf("field path %q, want it set apart as code", got)
	}
	// The body is folded, and pretty-printed when it is JSON, even clipped.
	if rows.Find("details").Length() != 2 || rows.Find("details[open]").Length() != 0 {
		t.Error("bodies are not folded")
	}
	if body := rows.First().Find("details pre.body").Text(); body != xss {
		t.Errorf("body shown as %q", body)
	}
	body := rows.Eq(1).Find("details pre.body").Text()
	if !strings.HasPrefix(body, "{\n  \"order_uid\": \"aaa") || !strings.HasSuffix(body, "…") {
		t.Errorf("a clipped JSON body is not indented and cut with …: %.60q", body)
	}
	if got := rows.Eq(1).Find("summary").Text(); got != "Message, 921.6\u00a0KB, the beginning shown" {
		t.Errorf("summary of a clipped body = %q", got)
	}

	// A count per kind, each a filter.
	var kinds []string
	doc.Find("#kinds a").Each(func(_ int, s *goquery.Selection) {
		kinds = append(kinds, strings.Join(strings.Fields(s.Text()), " ")+" "+s.AttrOr("href", ""))
	})
	if strings.Join(kinds, "; ") != "All 4 /dlq; decode 1 /dlq?kind=decode; validation 2 /dlq?kind=validation; conflict 1 /dlq?kind=conflict" {
		t.Errorf("kinds = %q", kinds)
	}
	if got := doc.Find(`#kinds a[aria-current="page"]`).AttrOr("href", ""); got != "/dlq" {
		t.Errorf("current filter %q", got)
	}
	if href, _ := doc.Find(`a[rel="next"]`).Attr("href"); href != "/dlq?cursor=p2&limit=2" {
		t.Errorf("next link = %q", href)
	}
	if doc.Find(`a[rel="first"]`).Length() != 0 {
		t.Error("the first page links to the newest")
	}

	doc = page(t, env.do(t, get("/dlq?kind=validation&limit=1")))
	if got := doc.Find(`#kinds a[aria-current="page"]`).AttrOr("href", ""); got != "/dlq?kind=validation" {
		t.Errorf("current filter %q", got)
	}
	if href, _ := doc.Find(`a[rel="next"]`).Attr("href"); href != "/dlq?cursor=p1&kind=validation&limit=1" {
		t.Errorf("next link of a kind = %q", href)
	}
	doc = page(t, env.do(t, get("/dlq?kind=validation&limit=1&cursor=p1")))
	if href, _ := doc.Find(`a[rel="first"]`).Attr("href"); href != "/dlq?kind=validation&limit=1" {
		t.Errorf("newest link = %q", href)
	}
	replay := doc.Find("#parked-list td.source .replay")
	if got := strings.TrimSpace(replay.Text()); got != "replay of orders.dlq, partition 1, offset 0" {
		t.Errorf("replay mark = %q", got)
	}
	if resp := env.do(t, get("/dlq?kind=nope")); resp.status != http.StatusBadRequest {
		t.Errorf("unknown kind: page status %d, want 400", resp.status)
	}
	doc = page(t, env.do(t, get("/dlq?kind=conflict&cursor=p1")))
	if got := strings.TrimSpace(doc.Find("#empty").Text()); got != "No parked message is of this kind." {
		t.Errorf("empty kind says %q", got)
	}
}

// TestParkedUnreadableIs503 fails the lister as a broker would that does
// not answer in time: the API answers 503 and the page is the 503 error
// page, never a page with what came.
func TestParkedUnreadableIs503(t *testing.T) {
	env := newTestEnv(t)
	env.deps.Parked.(*fakeParked).err = fmt.Errorf("read orders.dlq/1: %w", context.DeadlineExceeded)
	resp := env.do(t, get("/api/dlq"))
	if resp.status != http.StatusServiceUnavailable || resp.header.Get("Retry-After") == "" {
		t.Errorf("api: status %d, Retry-After %q; want 503 with Retry-After", resp.status, resp.header.Get("Retry-After"))
	}
	assertProblem(t, resp)
	if strings.Contains(string(resp.body), "orders.dlq/1") {
		t.Errorf("the problem shows the lister's error: %s", resp.body)
	}
	resp = env.do(t, get("/dlq"))
	if resp.status != http.StatusServiceUnavailable {
		t.Errorf("page: status %d, want 503", resp.status)
	}
	doc := page(t, resp)
	if doc.Find("#error").Length() != 1 || doc.Find("#parked-list").Length() != 0 {
		t.Error("the page is not the error page")
	}
	if got := doc.Find("#error .detail").Text(); !strings.Contains(got, "could not be read from the broker") {
		t.Errorf("detail %q", got)
	}
}

// TestParkedPageBoundedInBytes lists 100 messages of the worst bytes to
// write out (control characters, markup, invalid UTF-8) with reasons of
// 4 KiB: neither the JSON nor the page passes a megabyte.
func TestParkedPageBoundedInBytes(t *testing.T) {
	env := newTestEnv(t)
	hostile := []byte(strings.Repeat("\x01<\"&\xff", 1<<10))
	var items []order.Parked
	for i := range 100 {
		items = append(items, order.Parked{
			Kind: order.KindDecode, Reason: string(hostile[:4<<10]), Topic: string(hostile[:256]), Time: time.Now(),
			Key: hostile[:1<<10], Body: hostile[:4<<10], Size: 1 << 20, Offset: int64(i), ReplayOf: string(hostile[:256]),
		})
	}
	env.deps.Parked.(*fakeParked).items = items
	for _, target := range []string{"/api/dlq?limit=100", "/dlq?limit=100"} {
		resp := env.do(t, get(target))
		if resp.status != http.StatusOK {
			t.Fatalf("%s: status %d", target, resp.status)
		}
		if len(resp.body) > 1<<20 {
			t.Errorf("%s: %d bytes, want at most 1 MiB", target, len(resp.body))
		}
	}
}
