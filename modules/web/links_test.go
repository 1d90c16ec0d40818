package web

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/bcrypt"
)

// linkAttrs are the attributes that make a browser go somewhere or fetch
// something.
var linkAttrs = []string{"href", "src", "action", "formaction", "hx-get", "sse-connect", "data-src"}

// onSite reports whether a link or redirect stays on this site: it begins
// with exactly one "/", neither as written nor once percent-decoded, and has
// no byte a browser would drop to join two slashes.
func onSite(link string) bool {
	for _, r := range link {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	decoded, err := url.PathUnescape(link)
	if err != nil {
		decoded = link
	}
	for _, s := range []string{link, decoded} {
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, `/\`) {
			return false
		}
	}
	return true
}

func TestOnSite(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"/", true},
		{"/orders/x?lang=ru", true},
		{"/%25252F", true},
		{"//evil.example/x", false},
		{`/\evil.example`, false},
		{"/%2Fevil.example", false},
		{"/%5Cevil.example", false},
		{"%2F%2Fevil.example", false},
		{"/\t/evil.example", false},
		{"https://evil.example/", false},
		{"evil.example", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := onSite(tt.give); got != tt.want {
			t.Errorf("onSite(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// TestLinksStayOnSite sends paths meant to turn a link built from the
// request into one to another host, through the real app on a socket (so
// the request line reaches the server as written), and checks every link
// and redirect in the answer. Signed in or not changes which page answers
// (the 401 page has the language switch too), so both run.
func TestLinksStayOnSite(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		give string // request target, as written on the request line
		// wantSwitch, when set, is the language switch's exact href.
		wantSwitch string
	}{
		{"two slashes", "//evil.example/x", "/evil.example/x?lang=ru"},
		{"three slashes", "///evil.example/x", "/evil.example/x?lang=ru"},
		{"slash backslash", `/\evil.example/x`, "/evil.example/x?lang=ru"},
		{"backslash slash", `/\/evil.example`, ""},
		{"encoded slash", "/%2Fevil.example/x", "/evil.example/x?lang=ru"},
		{"encoded slashes", "/%2F%2Fevil.example/x", ""},
		{"lower-case encoding", "/%2f%2fevil.example", ""},
		{"encoded backslash", "/%5Cevil.example/x", "/evil.example/x?lang=ru"},
		{"encoded backslashes", "/%5C%5Cevil.example", ""},
		{"double-encoded slashes", "/%252F%252Fevil.example", "/%252F%252Fevil.example?lang=ru"},
		{"tab between slashes", "/%09/evil.example", ""},
		{"newline between slashes", "/%0A/evil.example", ""},
		{"with a query", "//evil.example/x?OrderUID=" + cachedUID, ""},
		{"a query that is a url", "/?OrderUID=//evil.example", ""},
		{"next to the order route", "//orders/" + cachedUID, ""},
		{"order route, encoded slashes", "/orders/%2F%2Fevil.example", ""},
		{"order route, malformed uid", "/orders/%5C%5Cevil.example", "/orders/%5C%5Cevil.example?lang=ru"},
		{"order route, other spelling", "/ORDERS/" + cachedUID + "/", "/orders/" + cachedUID + "?lang=ru"},
		{"order route, unknown uid", "/orders/" + unknownUID, "/orders/" + unknownUID + "?lang=ru"},
		{"dot segments", "/dlq/..%2F..%2F%2Fevil.example", ""},
		{"static, encoded slashes", "/static/%2F%2Fevil.example", ""},
		{"api, two slashes", "//api/orders/" + cachedUID, ""},
		{"home", "/", "/?lang=ru"},
		{"parked messages", "/dlq", "/dlq?lang=ru"},
	}
	configs := []struct {
		name string
		cfg  Config
	}{
		{"open", Config{}},
		{"signed out", Config{BasicAuthUsers: map[string]string{"ops": string(hash)}}},
	}
	for _, c := range configs {
		env := newTestEnv(t)
		addr := listen(t, env.newApp(c.cfg))
		for _, tt := range tests {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				resp := rawGet(t, addr, tt.give, "\r\n")
				for _, h := range []string{"Location", "Content-Location", "Refresh", "Link"} {
					if v := resp.header.Get(h); v != "" && !onSite(v) {
						t.Errorf("%s: %q leaves the site", h, v)
					}
				}
				if !strings.HasPrefix(resp.header.Get("Content-Type"), typeHTML) {
					return
				}
				doc, err := goquery.NewDocumentFromReader(bytes.NewReader(resp.body))
				if err != nil {
					t.Fatal(err)
				}
				links := 0
				for _, attr := range linkAttrs {
					doc.Find("[" + attr + "]").Each(func(_ int, s *goquery.Selection) {
						links++
						if v, _ := s.Attr(attr); !onSite(v) {
							t.Errorf("%d page: <%s %s=%q> leaves the site", resp.status, goquery.NodeName(s), attr, v)
						}
					})
				}
				sw, ok := doc.Find("a.lang").Attr("href")
				if !ok || links == 0 {
					t.Fatalf("%d page without a language switch", resp.status)
				}
				if tt.wantSwitch != "" && c.name == "open" && sw != tt.wantSwitch {
					t.Errorf("switch = %q, want %q", sw, tt.wantSwitch)
				}
			})
		}
	}
}
