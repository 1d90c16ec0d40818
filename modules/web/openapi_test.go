package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/errors"

	"github.com/marketplace/orders/modules/order"
)

// undocumented are the routes the OpenAPI document leaves out on purpose:
// pages, the live stream behind a page, static files and metrics.
var undocumented = []string{"/", "/orders/{uid}", "/dlq", "/live/orders", "/static/{name}", "/metrics"}

func openAPIValidator(t *testing.T) validator.Validator {
	t.Helper()
	doc, err := libopenapi.NewDocument(openAPI)
	if err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("OpenAPI version %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("build validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %s", describe(verrs))
	}
	return v
}

func describe(errs []*errors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
		for _, se := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s %s", se.Location, se.Reason)
		}
	}
	return b.String()
}

var fiberParam = regexp.MustCompile(`:(\w+)\??`)

// TestOpenAPIDocumentsEveryRoute compares the router with the document, both
// ways: every GET route is documented or deliberately left out, and every
// documented path is a route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	openAPIValidator(t)
	doc, err := libopenapi.NewDocument(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		if item.Get == nil {
			t.Errorf("%s: documented without GET", path)
		}
		for method := range item.GetOperations().KeysFromOldest() {
			if method != "get" {
				t.Errorf("%s: documents %s, which no route serves", path, method)
			}
		}
		documented[path] = true
	}

	app := newTestEnv(t).app
	routed := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		path := fiberParam.ReplaceAllString(r.Path, "{$1}")
		switch r.Method {
		case http.MethodGet:
		case http.MethodHead:
			continue // Fiber adds HEAD to every GET
		default:
			t.Errorf("route %s %s is not a GET", r.Method, r.Path)
		}
		routed[path] = true
		if !documented[path] && !slices.Contains(undocumented, path) {
			t.Errorf("route GET %s is neither in openapi.yaml nor in the undocumented list", path)
		}
	}
	for path := range documented {
		if !routed[path] {
			t.Errorf("openapi.yaml documents %s, which is no route", path)
		}
	}
	for _, path := range undocumented {
		if !routed[path] {
			t.Errorf("undocumented list names %s, which is no route", path)
		}
		if documented[path] {
			t.Errorf("%s is both documented and listed as undocumented", path)
		}
	}
}

// TestOpenAPIAnswers sends each documented operation a valid and an invalid
// request, checks the validator agrees which is which, and checks every
// answer against the document: status, content type, headers and body.
func TestOpenAPIAnswers(t *testing.T) {
	v := openAPIValidator(t)
	env := newTestEnv(t)
	env.deps.Parked.(*fakeParked).items = []order.Parked{{Kind: order.KindDecode, Reason: "not JSON", Topic: "orders", Offset: 1, Key: []byte("k"), Body: []byte("{")}}
	env.app = env.newApp(Config{})
	tests := []struct {
		target     string
		valid      bool
		wantStatus int
	}{
		{"/api/getOrder?OrderUID=" + cachedUID, true, 200},
		{"/api/getOrder?OrderUID=" + uncachedUID, true, 200},
		{"/api/getOrder?OrderUID=" + unknownUID, true, 404},
		{"/api/getOrder?OrderUID=" + storeDown, true, 500},
		{"/api/getOrder?OrderUID=a%20b", false, 400},
		{"/api/getOrder", false, 400},
		{"/api/orders/" + cachedUID, true, 200},
		{"/api/orders/" + unknownUID, true, 404},
		{"/api/orders/" + strings.Repeat("a", 65), false, 400},
		{"/api/orders/%3Cx%3E", false, 400},
		{"/api/orders?track_number=WBILMTESTTRACK&limit=2", true, 200},
		{"/api/orders?customer_id=test", true, 200},
		{"/api/orders", true, 200},
		{"/api/orders?limit=0", false, 400},
		{"/api/orders?limit=101", false, 400},
		{"/api/orders?limit=abc", false, 400},
		{"/api/orders?phone=" + strings.Repeat("1", 129), false, 400},
		{"/api/orders?cursor=", false, 400},
		{"/api/dlq", true, 200},
		{"/api/dlq?limit=100", true, 200},
		{"/api/dlq?limit=0", false, 400},
		{"/api/dlq?kind=decode", true, 200},
		{"/api/dlq?kind=conflict&limit=5", true, 200},
		{"/api/dlq?kind=nope", false, 400},
		{"/api/dlq?cursor=" + strings.Repeat("c", 513), false, 400},
		{"/api/openapi.yaml", true, 200},
		{"/healthz", true, 200},
		{"/readyz", true, 200},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			reqOK, reqErrs := v.ValidateHttpRequestSync(req)
			if reqOK != tt.valid {
				t.Errorf("the document calls the request valid=%v, the test %v:%s", reqOK, tt.valid, describe(reqErrs))
			}
			resp, err := env.app.Test(httptest.NewRequest(http.MethodGet, tt.target, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.wantStatus, body)
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			if ok, errs := v.ValidateHttpResponse(req, resp); !ok {
				t.Errorf("the answer breaks the document:%s\n%.300s", describe(errs), body)
			}
			// The validator does not check response headers; the document
			// requires X-Source on every 200 of the order operations.
			if resp.StatusCode == http.StatusOK && strings.HasPrefix(tt.target, "/api/") &&
				!strings.HasPrefix(tt.target, "/api/dlq") && !strings.HasPrefix(tt.target, "/api/openapi") {
				if src := resp.Header.Get("X-Source"); src != "cache" && src != "database" {
					t.Errorf("X-Source = %q, want cache or database", src)
				}
			}
		})
	}
}

// TestOpenAPIShownByBrowsers serves the document as text/yaml, which a
// browser shows (Chromium downloads application/yaml) and schemathesis
// reads as YAML; the browser test opens it in Chromium.
func TestOpenAPIShownByBrowsers(t *testing.T) {
	resp := newTestEnv(t).do(t, get("/api/openapi.yaml"))
	if ct := resp.header.Get("Content-Type"); ct != "text/yaml; charset=utf-8" {
		t.Errorf("Content-Type %q, want text/yaml; charset=utf-8", ct)
	}
	if cd := resp.header.Get("Content-Disposition"); cd != "" && cd != "inline" {
		t.Errorf("Content-Disposition %q", cd)
	}
	if !bytes.HasPrefix(resp.body, []byte("openapi: 3.1.0")) {
		t.Errorf("body %.40q", resp.body)
	}
}

// TestOpenAPIDocumentsTheUnreadableDLQ checks the 503 of a DLQ the broker
// does not give in time against the document, Retry-After and all.
func TestOpenAPIDocumentsTheUnreadableDLQ(t *testing.T) {
	v := openAPIValidator(t)
	env := newTestEnv(t)
	env.deps.Parked.(*fakeParked).err = fmt.Errorf("read: %w", context.DeadlineExceeded)
	env.app = env.newApp(Config{})
	req := httptest.NewRequest(http.MethodGet, "/api/dlq?kind=conflict", nil)
	resp, err := env.app.Test(httptest.NewRequest(http.MethodGet, "/api/dlq?kind=conflict", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if ok, errs := v.ValidateHttpResponse(req, resp); !ok {
		t.Errorf("the answer breaks the document:%s", describe(errs))
	}
}
