package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// newLimitedEnv is newTestEnv with a rate limit of max requests per minute.
func newLimitedEnv(t *testing.T, max int) *testEnv {
	t.Helper()
	env := newTestEnv(t)
	env.app = env.newApp(Config{RateLimit: max, RateWindow: time.Minute})
	return env
}

// listen serves app on a real socket as the module does, for what app.Test
// cannot show: the peer address, what the server rejects before any
// handler runs, and its timeouts.
func listen(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.Listener(ln)
	}()
	t.Cleanup(func() {
		if err := app.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return ln.Addr().String()
}

// rawGet sends one request written by hand, so a test can send what a
// well-behaved client would refuse to, and reads the answer. rest follows
// the Host header: more header lines, then the blank line and any body.
func rawGet(t *testing.T, addr, target, rest string) response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: test\r\n%s", target, rest); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	tests := []struct {
		name       string
		give       request
		wantStatus int
		wantType   string
	}{
		{"search page", get("/"), 200, typeHTML},
		{"order page", get("/orders/" + cachedUID), 200, typeHTML},
		{"api answer", get("/api/orders/" + cachedUID), 200, typeJSON},
		{"api error", get("/api/orders/a%20b"), 400, typeProblem},
		{"page error", get("/orders/a%20b"), 400, typeHTML},
		{"api 404", get("/api/nope"), 404, typeProblem},
		{"page 404", get("/nope"), 404, typeHTML},
		{"405", request{method: http.MethodDelete, target: "/orders/" + cachedUID}, 405, typeHTML},
		{"500", get("/api/orders/" + storeDown), 500, typeProblem},
		{"stylesheet", get("/static/app.css"), 200, typeCSS},
		{"healthz", get("/healthz"), 200, typeText},
		{"metrics", get("/metrics"), 200, typeText},
	}
	env := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, tt.give)
			if resp.status != tt.wantStatus || mediaType(t, resp) != tt.wantType {
				t.Fatalf("got %d %s, want %d %s", resp.status, mediaType(t, resp), tt.wantStatus, tt.wantType)
			}
			assertSecurityHeaders(t, resp)
		})
	}

	// The policy forbids inline script and style outright: scripts only from
	// the app's own files.
	if !strings.Contains(contentSecurityPolicy, "script-src 'self';") {
		t.Errorf("Content-Security-Policy allows more scripts than the app's own: %s", contentSecurityPolicy)
	}
	for _, unsafe := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:"} {
		if strings.Contains(contentSecurityPolicy, unsafe) {
			t.Errorf("Content-Security-Policy contains %s: %s", unsafe, contentSecurityPolicy)
		}
	}
}

func TestRateLimit(t *testing.T) {
	const max = 3
	env := newLimitedEnv(t, max)
	for i := range max {
		if resp := env.do(t, get("/api/orders/"+cachedUID)); resp.status != http.StatusOK {
			t.Fatalf("request %d of %d: status %d, want 200", i+1, max, resp.status)
		}
	}

	tests := []struct {
		name       string
		give       request
		wantStatus int
		wantType   string
	}{
		{"api over the limit", get("/api/orders/" + cachedUID), 429, typeProblem},
		{"page over the limit", get("/orders/" + cachedUID), 429, typeHTML},
		{"unknown route over the limit", get("/nope"), 429, typeHTML},
		{"healthz never limited", get("/healthz"), 200, typeText},
		{"readyz never limited", get("/readyz"), 200, typeJSON},
		{"metrics never limited", get("/metrics"), 200, typeText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the answer stays the same once the limit is passed.
			for range 2 {
				resp := env.do(t, tt.give)
				if resp.status != tt.wantStatus {
					t.Fatalf("status = %d, want %d: %.300s", resp.status, tt.wantStatus, resp.body)
				}
				if got := mediaType(t, resp); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
				assertSecurityHeaders(t, resp)
				if tt.wantStatus != http.StatusTooManyRequests {
					continue
				}
				secs, err := strconv.Atoi(resp.header.Get("Retry-After"))
				if err != nil || secs < 1 || secs > 60 {
					t.Errorf("Retry-After = %q, want 1 to 60 seconds", resp.header.Get("Retry-After"))
				}
				if tt.wantType == typeProblem {
					assertProblem(t, resp)
				}
			}
		})
	}
}

func TestRateLimitDetail(t *testing.T) {
	env := newLimitedEnv(t, 1)
	env.do(t, get("/api/orders/"+cachedUID))
	resp := env.do(t, get("/api/orders/"+cachedUID))
	var p problem
	if err := json.Unmarshal(resp.body, &p); err != nil {
		t.Fatalf("%d %s: %v", resp.status, resp.body, err)
	}
	want := "Try again in " + resp.header.Get("Retry-After") + " s"
	if !strings.Contains(p.Detail, want) {
		t.Errorf("detail = %q, want it to contain %q", p.Detail, want)
	}
}

func TestRateLimitZeroIsOff(t *testing.T) {
	// Fiber's limiter would take a Max of 0 as its default of 5.
	env := newTestEnv(t)
	for i := range 20 {
		if resp := env.do(t, get("/api/orders/"+cachedUID)); resp.status != http.StatusOK {
			t.Fatalf("request %d: status %d with the limit off", i+1, resp.status)
		}
	}
}

// TestRateLimitIsPerClientIP uses real connections from two loopback
// addresses: app.Test gives every request the same peer, and a header such
// as X-Forwarded-For must not change whose limit a request spends.
func TestRateLimitIsPerClientIP(t *testing.T) {
	const max = 2
	env := newLimitedEnv(t, max)
	addr := listen(t, env.app)
	a, b := twoPeers(t, addr)

	status := func(c *http.Client, forwardedFor string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/api/orders/"+cachedUID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	tests := []struct {
		name   string
		client *http.Client
		xff    string
		want   int
	}{
		{"a 1", a, "", 200},
		{"a 2", a, "", 200},
		{"a over the limit", a, "", 429},
		{"a claiming another address", a, "203.0.113.9", 429},
		{"b has its own limit", b, "", 200},
		{"b 2", b, "", 200},
		{"b over the limit", b, "", 429},
	}
	for _, tt := range tests {
		if got := status(tt.client, tt.xff); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestOversizeRequests(t *testing.T) {
	env := newTestEnv(t)
	addr := listen(t, env.app)
	header := func(n int) string { return "X-Big: " + strings.Repeat("a", n) + "\r\n" }
	tests := []struct {
		name       string
		target     string
		give       string // after the Host line
		wantStatus int
		wantType   string
	}{
		// Above Fiber's default buffer of 4 KiB: the limit is ours.
		{"6 KiB of headers", "/api/orders/" + cachedUID, header(6<<10) + "\r\n", 200, typeJSON},
		{"headers over 8 KiB, api", "/api/orders/" + cachedUID, header(8<<10) + "\r\n", 431, typeProblem},
		{"headers over 8 KiB, page", "/orders/" + cachedUID, header(8<<10) + "\r\n", 431, typeProblem},
		{"request line over 8 KiB", "/api/getOrder?OrderUID=" + strings.Repeat("a", 9<<10), "\r\n", 431, typeProblem},
		// Blank, so the handler's own 400 shows the body got through.
		{"body at the limit", "/api/getOrder", contentLength(bodyLimit) + "\r\n" + strings.Repeat(" ", bodyLimit), 400, typeProblem},
		// The server refuses a declared length over the limit before reading
		// the body. Sending none keeps the test from racing the server's
		// close with a write still under way.
		{"api body over the limit", "/api/getOrder", contentLength(bodyLimit+1) + "\r\n", 413, typeProblem},
		{"page body over the limit", "/", contentLength(bodyLimit+1) + "\r\n", 413, typeHTML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawGet(t, addr, tt.target, tt.give)
			if resp.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %.300s", resp.status, tt.wantStatus, resp.body)
			}
			if got := mediaType(t, resp); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			assertSecurityHeaders(t, resp)
			if tt.wantType == typeProblem {
				assertProblem(t, resp)
			}
		})
	}
}

func contentLength(n int) string { return "Content-Length: " + strconv.Itoa(n) + "\r\n" }

func TestPanicIsAPlain500(t *testing.T) {
	tests := []struct {
		name     string
		give     request
		wantType string
	}{
		{"api by path", get("/api/orders/" + panicUID), typeProblem},
		{"api by query", get("/api/getOrder?OrderUID=" + panicUID), typeProblem},
		{"api by body", getWithBody("/api/getOrder", `{"OrderUID":"`+panicUID+`"}`), typeProblem},
		{"page", get("/orders/" + panicUID), typeHTML},
	}
	env := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, tt.give)
			if resp.status != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500", resp.status)
			}
			if got := mediaType(t, resp); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if tt.wantType == typeProblem {
				assertProblem(t, resp)
			}
			assertSecurityHeaders(t, resp)
			// The panic value, and any trace of a stack.
			for _, leak := range []string{"boom", storeSecret, "panic", "goroutine", ".go:", "runtime/", "debug.Stack"} {
				if strings.Contains(string(resp.body), leak) {
					t.Errorf("body shows %q: %.500s", leak, resp.body)
				}
			}
		})
	}
	// The server survived, and the stack went to the log instead.
	if resp := env.do(t, get("/api/orders/"+cachedUID)); resp.status != http.StatusOK {
		t.Errorf("after the panics: status %d", resp.status)
	}
	if logs := env.logs.String(); !strings.Contains(logs, "goroutine") || !strings.Contains(logs, "boom") {
		t.Errorf("the panic and its stack are not in the log:\n%.1000s", logs)
	}
}

// TestPanicIsLoggedOnce holds a panic to one log record: the error, with
// the stack of the goroutine that panicked, not a second "request failed".
func TestPanicIsLoggedOnce(t *testing.T) {
	for _, target := range []string{"/api/orders/" + panicUID, "/orders/" + panicUID} {
		t.Run(target, func(t *testing.T) {
			env := newTestEnv(t)
			if resp := env.do(t, get(target)); resp.status != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500", resp.status)
			}
			recs := logRecords(t, env.logs.String())
			if len(recs) != 1 {
				t.Fatalf("%d log records for one panic, want 1:\n%s", len(recs), env.logs.String())
			}
			rec := recs[0]
			if rec["level"] != "ERROR" || rec["path"] != target {
				t.Errorf("record level %v path %v, want ERROR %s", rec["level"], rec["path"], target)
			}
			if p, _ := rec["panic"].(string); !strings.Contains(p, "boom") {
				t.Errorf("record panic = %q, want the panic value", p)
			}
			// The stack is the panicking goroutine's: it names the fake's Get.
			if st, _ := rec["stack"].(string); !strings.Contains(st, "goroutine") || !strings.Contains(st, "fakeOrders).Get") {
				t.Errorf("record stack does not show where it panicked:\n%.2000s", st)
			}
		})
	}
}

// TestDefaultConfigServesManyReadsFromOneClient is issue 7's user: one
// client reading 20,000 orders in a row on the default config gets no 429.
func TestDefaultConfigServesManyReadsFromOneClient(t *testing.T) {
	env := newTestEnv(t)
	env.app = env.newApp(Config{RateWindow: time.Minute}) // RateLimit's default is 0
	for i := range 20_000 {
		resp, err := env.app.Test(httptest.NewRequest(http.MethodGet, "/api/orders/"+cachedUID, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("read %d: status %d", i+1, resp.StatusCode)
		}
	}
}

// TestForwardedForOnlyFromTrustedProxies serves from real sockets: 127.0.0.1
// is the trusted proxy, 127.0.0.2 a client that writes its own header.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	const max = 2
	env := newTestEnv(t)
	env.app = env.newApp(Config{RateLimit: max, RateWindow: time.Minute, TrustedProxies: []string{"127.0.0.1/32"}})
	addr := listen(t, env.app)
	proxy, direct := twoPeers(t, addr)
	status := func(c *http.Client, forwardedFor string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/api/orders/"+cachedUID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name   string
		client *http.Client
		xff    string
		want   int
	}{
		// Untrusted peer: the header is ignored, each spoofed address
		// spends the peer's own limit.
		{"direct 1", direct, "198.51.100.1", 200},
		{"direct 2", direct, "198.51.100.2", 200},
		{"direct spoofing a third address", direct, "198.51.100.3", 429},
		// Trusted proxy: the header names the client, each its own limit.
		{"client A 1", proxy, "203.0.113.1", 200},
		{"client A 2", proxy, "203.0.113.1", 200},
		{"client A over the limit", proxy, "203.0.113.1", 429},
		// What A wrote itself is left of what the proxy saw: still A.
		{"client A writing another address", proxy, "203.0.113.77, 203.0.113.1", 429},
		{"client B has its own limit", proxy, "203.0.113.2", 200},
		{"client B behind a second trusted hop", proxy, "203.0.113.2, 127.0.0.1", 200},
		{"client B over the limit", proxy, "203.0.113.2", 429},
	}
	for _, tt := range tests {
		if got := status(tt.client, tt.xff); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTrustedProxyPrefixes(t *testing.T) {
	list := prefixes([]string{"10.0.0.0/8", "192.168.1.7", "::1", "not an address"})
	tests := []struct {
		give string
		want bool
	}{
		{"10.1.2.3", true},
		{"11.0.0.1", false},
		{"192.168.1.7", true},
		{"192.168.1.8", false},
		{"::1", true},
		{"::ffff:10.0.0.1", true},
		{"garbage", false},
	}
	for _, tt := range tests {
		if got := inPrefixes(tt.give, list); got != tt.want {
			t.Errorf("inPrefixes(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}

// twoPeers returns clients that connect to addr from 127.0.0.1 and from
// 127.0.0.2, two TCP peers on one machine; it skips the test where the second
// is not a local address.
func twoPeers(t *testing.T, addr string) (*http.Client, *http.Client) {
	t.Helper()
	client := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	}
	first, second := client("127.0.0.1"), client("127.0.0.2")
	if _, err := second.Get("http://" + addr + "/healthz"); err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("127.0.0.2 is not a local address here: %v", err)
		}
		t.Fatal(err)
	}
	return first, second
}

// TestSlowClientsAreCutOff: a client that never finishes its headers, one
// that sends them a byte at a time, and one that keeps an idle connection
// all lose the connection (after readTimeout, give or take deadlineSlack),
// rather than hold it for as long as they like.
func TestSlowClientsAreCutOff(t *testing.T) {
	env := newTestEnv(t)
	addr := listen(t, env.app)
	for name, behave := range map[string]func(net.Conn){
		"headers never finished": func(c net.Conn) {
			_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: orders\r\n"))
		},
		"headers a byte at a time": func(c net.Conn) {
			go func() {
				for _, b := range []byte("GET /healthz HTTP/1.1\r\nHost: orders\r\nX-Slow: " + strings.Repeat("a", 100)) {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(time.Second)
				}
			}()
		},
		"idle after an answer": func(c net.Conn) {
			_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: orders\r\n\r\n"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			behave(conn)
			// Far longer than the server's timeouts: only a server that
			// never cuts the connection lets this expire.
			_ = conn.SetReadDeadline(time.Now().Add(4 * readTimeout))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server still held the connection after %s", 4*readTimeout)
			}
		})
	}
}
