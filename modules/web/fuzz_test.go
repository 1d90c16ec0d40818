package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/marketplace/orders/modules/order"
)

// mapOrders knows records and nothing else. Unlike fakeOrders it has no uid
// that fails or panics: those are valid uids a fuzzer would find, and their
// 500s are what they are for.
type mapOrders map[string]order.Record

func (m mapOrders) Get(_ context.Context, uid string) (order.Record, bool, error) {
	r, ok := m[uid]
	if !ok {
		return order.Record{}, false, fmt.Errorf("get order %s: %w", uid, order.ErrNotFound)
	}
	return r, true, nil
}

// fuzzCase is one way of asking for a uid, and the uid the server must look
// up for it.
type fuzzCase struct {
	name   string
	req    request
	want   string
	page   bool
	routed bool // want reaches the handler whole: no "/" in a path segment
}

func fuzzCases(s string) []fuzzCase {
	body, _ := json.Marshal(map[string]string{uidParam: s})
	noSlash := !strings.Contains(s, "/")
	return []fuzzCase{
		{name: "api query", req: get("/api/getOrder?" + uidParam + "=" + url.QueryEscape(s)), want: s, routed: true},
		{name: "api path", req: get("/api/orders/" + url.PathEscape(s)), want: s, routed: noSlash},
		{name: "api JSON body", req: getWithBody("/api/getOrder", string(body)), want: s, routed: true},
		{name: "api raw body", req: getWithBody("/api/getOrder", s), want: uidInBody(s), routed: true},
		// The search box trims spaces.
		{name: "page query", req: get("/?" + uidParam + "=" + url.QueryEscape(s)), want: strings.TrimSpace(s), page: true, routed: true},
		{name: "page path", req: get("/orders/" + url.PathEscape(s)), want: s, page: true, routed: noSlash},
	}
}

// uidInBody is the uid a body names when it is a JSON object whose one
// member is OrderUID, a string; else "", which no order has. Space around
// the object is allowed, as in a body typed by hand.
func uidInBody(body string) string {
	var members map[string]any
	if json.Unmarshal([]byte(strings.TrimSpace(body)), &members) != nil || len(members) != 1 {
		return ""
	}
	uid, _ := members[uidParam].(string)
	return uid
}

// FuzzGetOrderUID asks for arbitrary uids every way the contract allows and
// holds each answer to it: a known status, the right body for that status,
// security headers, and an order only for a valid uid that was asked for.
func FuzzGetOrderUID(f *testing.F) {
	orders := mapOrders{
		cachedUID:   fixture(f).Record(),
		uncachedUID: withUID(f, uncachedUID, nil),
	}
	// Limit off: one peer sends everything here, and the limiter is tested
	// on its own.
	m := newTestMetrics()
	app := NewApp(Config{}, Deps{Orders: orders, Observer: m, Metrics: m.reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	allowed := []int{200, 400, 404, 405, 413, 429}

	f.Fuzz(func(t *testing.T, s string) {
		for _, fc := range fuzzCases(s) {
			// Over the server's limits app.Test returns fasthttp's error, not
			// the 413 or 431 the server writes; TestOversizeRequests sends
			// those over a socket. The margin covers the other header lines.
			if len(fc.req.target) > headerLimit-1024 || len(fc.req.body) > bodyLimit {
				continue
			}
			var body io.Reader
			if fc.req.body != "" {
				body = strings.NewReader(fc.req.body)
			}
			resp, err := app.Test(httptest.NewRequest(fc.req.method, fc.req.target, body), -1)
			if err != nil {
				t.Fatalf("%s: %v", fc.name, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got := response{status: resp.StatusCode, header: resp.Header, body: b}
			checkFuzzAnswer(t, fc, s, orders, allowed, got)
		}
	})
}

func checkFuzzAnswer(t *testing.T, fc fuzzCase, s string, orders mapOrders, allowed []int, got response) {
	t.Helper()
	if !slices.Contains(allowed, got.status) {
		t.Fatalf("%s %q: status %d, want one of %v: %.300s", fc.req.target, s, got.status, allowed, got.body)
	}
	assertSecurityHeaders(t, got)

	switch mt := mediaType(t, got); {
	case got.status == http.StatusOK:
	case fc.page && mt == typeHTML:
	case !fc.page && mt == typeProblem:
		assertProblem(t, got)
	default:
		t.Fatalf("%s %q: %d with Content-Type %q", fc.req.target, s, got.status, mt)
	}
	lower := bytes.ToLower(got.body)
	if fc.page && bytes.Count(lower, []byte("<script")) != bytes.Count(lower, []byte(`<script src="/static/`)) {
		t.Fatalf("%s %q: the page has a script element of its own: %.500s", fc.req.target, s, got.body)
	}

	uid := fc.want
	_, stored := orders[uid]
	var want int
	switch {
	case !fc.routed:
		// A "/" in the segment leaves no route, or an empty one.
		if got.status != http.StatusNotFound && got.status != http.StatusBadRequest {
			t.Fatalf("%s %q: status %d, want 404 or 400", fc.req.target, s, got.status)
		}
		return
	case !order.ValidUID(uid):
		want = http.StatusBadRequest
	case stored:
		want = http.StatusOK
	default:
		want = http.StatusNotFound
	}
	if got.status != want {
		t.Fatalf("%s %q: status %d, want %d: %.300s", fc.req.target, s, got.status, want, got.body)
	}
	if want != http.StatusOK {
		return
	}
	if fc.page {
		if !bytes.Contains(got.body, []byte(uid)) {
			t.Fatalf("%s %q: the page does not show %q", fc.req.target, s, uid)
		}
	} else if !bytes.Equal(got.body, orders[uid].JSON) {
		t.Fatalf("%s %q: body is not the record of %q: %.300s", fc.req.target, s, uid, got.body)
	}
}
