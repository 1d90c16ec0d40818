package web

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"
)

func basic(name, password string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))}
}

func TestBasicAuth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t)
	env.app = env.newApp(Config{BasicAuthUsers: map[string]string{"ops": string(hash)}})
	tests := []struct {
		name   string
		target string
		header map[string]string
		want   int
	}{
		{"api without credentials", "/api/orders/" + cachedUID, nil, 401},
		{"page without credentials", "/orders/" + cachedUID, nil, 401},
		{"home without credentials", "/", nil, 401},
		{"openapi without credentials", "/api/openapi.yaml", nil, 401},
		{"dlq page without credentials", "/dlq", nil, 401},
		{"live stream without credentials", "/live/orders", nil, 401},
		{"stylesheet without credentials", "/static/app.css", nil, 200},
		{"script without credentials", "/static/app.js", nil, 200},
		{"icon without credentials", "/static/favicon.svg", nil, 200},
		{"wrong password", "/api/orders/" + cachedUID, basic("ops", "guess"), 401},
		{"unknown user", "/api/orders/" + cachedUID, basic("root", "s3cret"), 401},
		{"empty password", "/api/orders/" + cachedUID, basic("ops", ""), 401},
		{"not basic", "/api/orders/" + cachedUID, map[string]string{"Authorization": "Bearer x"}, 401},
		{"not base64", "/api/orders/" + cachedUID, map[string]string{"Authorization": "Basic !!!"}, 401},
		{"right password", "/api/orders/" + cachedUID, basic("ops", "s3cret"), 200},
		{"right password, lower-case scheme", "/orders/" + cachedUID, map[string]string{"Authorization": "basic " + base64.StdEncoding.EncodeToString([]byte("ops:s3cret"))}, 200},
		{"healthz open", "/healthz", nil, 200},
		{"readyz open", "/readyz", nil, 200},
		{"metrics open", "/metrics", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, request{method: http.MethodGet, target: tt.target, header: tt.header})
			if resp.status != tt.want {
				t.Fatalf("status %d, want %d", resp.status, tt.want)
			}
			challenge := resp.header.Get("WWW-Authenticate")
			if tt.want == 401 {
				if challenge == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if resp.header.Get("Content-Type") == typeProblem {
					assertProblem(t, resp)
				}
				assertSecurityHeaders(t, resp)
			} else if challenge != "" {
				t.Errorf("WWW-Authenticate %q on a %d", challenge, resp.status)
			}
		})
	}
}

// TestUnknownUserCostsOneBcrypt shows the timing cannot tell an unknown name
// from a wrong password: both run one bcrypt comparison at the users' cost.
// (Tests never assert timings; this checks the work done instead.)
func TestUnknownUserCostsOneBcrypt(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), 5)
	if err != nil {
		t.Fatal(err)
	}
	a := newBasicAuth(map[string]string{"ops": string(hash)})
	cost, err := bcrypt.Cost(a.dummy)
	if err != nil || cost != 5 {
		t.Fatalf("dummy hash cost %d (%v), want the users' 5", cost, err)
	}
	if a.check("nobody", "no user has this password") {
		t.Error("an unknown user signed in with the dummy's password")
	}
	if a.check("ops", "wrong") || !a.check("ops", "s3cret") {
		t.Error("check does not tell right from wrong")
	}
	if newBasicAuth(nil) != nil {
		t.Error("sign-in on with no users")
	}
}

// countedAuth is sign-in for users (name: password) whose bcrypt
// comparisons are counted and whose clock the test moves.
type countedAuth struct {
	*basicAuth
	bcrypts atomic.Int64
	clock   time.Time
}

func newCountedAuth(t *testing.T, users map[string]string) *countedAuth {
	t.Helper()
	hashes := map[string]string{}
	for name, password := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashes[name] = string(hash)
	}
	ca := &countedAuth{basicAuth: newBasicAuth(hashes), clock: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
	ca.compare = func(hash, password []byte) error {
		ca.bcrypts.Add(1)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	ca.now = func() time.Time { return ca.clock }
	return ca
}

// header is the Authorization header for name and password.
func header(name, password string) []byte {
	return []byte(basic(name, password)["Authorization"])
}

// TestSignInChecksBcryptOnceThenRemembers: the first request with a right
// password costs one bcrypt, the ones after it none; a wrong password, an
// unknown user and a malformed header are never remembered.
func TestSignInChecksBcryptOnceThenRemembers(t *testing.T) {
	tests := []struct {
		name        string
		give        []byte
		wantAllowed bool
		// wantBcrypts is the comparisons for each of three tries in a row.
		wantBcrypts []int64
	}{
		{"right password", header("ops", "s3cret"), true, []int64{1, 0, 0}},
		{"wrong password", header("ops", "guess"), false, []int64{1, 1, 1}},
		{"unknown user", header("root", "s3cret"), false, []int64{1, 1, 1}},
		{"empty password", header("ops", ""), false, []int64{1, 1, 1}},
		{"password of another spelling", []byte("basic " + base64.StdEncoding.EncodeToString([]byte("ops:s3cret"))), true, []int64{1, 0, 0}},
		{"not basic", []byte("Bearer s3cret"), false, []int64{0, 0, 0}},
		{"no header", nil, false, []int64{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newCountedAuth(t, map[string]string{"ops": "s3cret"})
			for i, want := range tt.wantBcrypts {
				before := a.bcrypts.Load()
				if got := a.allowed(tt.give); got != tt.wantAllowed {
					t.Fatalf("try %d: allowed %v, want %v", i+1, got, tt.wantAllowed)
				}
				if got := a.bcrypts.Load() - before; got != want {
					t.Errorf("try %d: %d bcrypt comparisons, want %d", i+1, got, want)
				}
			}
			if !tt.wantAllowed && len(a.verified) != 0 {
				t.Errorf("%d credentials remembered after failures, want none", len(a.verified))
			}
		})
	}
}

// TestSignInRememberedNotThePassword: what is kept is neither the header
// nor its plain SHA-256 (which a memory dump would let anyone test
// passwords against at speed) but an HMAC under a key each process draws.
func TestSignInRememberedNotThePassword(t *testing.T) {
	a := newCountedAuth(t, map[string]string{"ops": "s3cret"})
	h := header("ops", "s3cret")
	if !a.allowed(h) {
		t.Fatal("right password refused")
	}
	if _, ok := a.verified[sha256.Sum256(h)]; ok {
		t.Error("the remembered key is the header's plain SHA-256")
	}
	if _, ok := a.verified[a.key(h)]; !ok || len(a.verified) != 1 {
		t.Fatalf("remembered %d keys, want the header's one", len(a.verified))
	}
	other := newCountedAuth(t, map[string]string{"ops": "s3cret"})
	if a.key(h) == other.key(h) {
		t.Error("two sign-ins key the same header alike: the key is not secret")
	}
}

// TestSignInExpires: a remembered credential counts until the TTL has
// passed, then costs one bcrypt again and is remembered afresh.
func TestSignInExpires(t *testing.T) {
	a := newCountedAuth(t, map[string]string{"ops": "s3cret"})
	h := header("ops", "s3cret")
	steps := []struct {
		name        string
		advance     time.Duration
		wantBcrypts int64
	}{
		{"first sign-in", 0, 1},
		{"just before expiry", signInTTL - time.Nanosecond, 1},
		{"at expiry", time.Nanosecond, 2},
		{"remembered again", signInTTL / 2, 2},
		{"expired again", signInTTL / 2, 3},
	}
	for _, s := range steps {
		a.clock = a.clock.Add(s.advance)
		if !a.allowed(h) {
			t.Fatalf("%s: right password refused", s.name)
		}
		if got := a.bcrypts.Load(); got != s.wantBcrypts {
			t.Errorf("%s: %d bcrypt comparisons in all, want %d", s.name, got, s.wantBcrypts)
		}
	}
}

// TestSignInMemoryBounded: however many users sign in, no more than max
// credentials are remembered; the one remembered longest goes first, unless
// some have expired.
func TestSignInMemoryBounded(t *testing.T) {
	const max, users = 3, 8
	passwords := map[string]string{}
	for i := range users {
		passwords[fmt.Sprintf("user%d", i)] = fmt.Sprintf("pw%d", i)
	}
	a := newCountedAuth(t, passwords)
	a.max = max
	for i := range users {
		a.clock = a.clock.Add(time.Second)
		if !a.allowed(header(fmt.Sprintf("user%d", i), fmt.Sprintf("pw%d", i))) {
			t.Fatalf("user%d refused", i)
		}
		if len(a.verified) > max {
			t.Fatalf("after %d sign-ins %d remembered, want at most %d", i+1, len(a.verified), max)
		}
	}
	before := a.bcrypts.Load()
	for i := users - max; i < users; i++ { // the newest are remembered
		a.allowed(header(fmt.Sprintf("user%d", i), fmt.Sprintf("pw%d", i)))
	}
	if got := a.bcrypts.Load() - before; got != 0 {
		t.Errorf("the %d newest sign-ins cost %d bcrypt comparisons, want 0", max, got)
	}
	a.allowed(header("user0", "pw0")) // long evicted: checked again
	if got := a.bcrypts.Load() - before; got != 1 {
		t.Errorf("an evicted sign-in cost %d bcrypt comparisons, want 1", got)
	}
	// user0 pushed out user5, the oldest; when everything has expired, a
	// new sign-in clears them rather than keep them.
	a.clock = a.clock.Add(signInTTL)
	a.allowed(header("user1", "pw1"))
	if len(a.verified) != 1 {
		t.Errorf("after every entry expired, %d remembered, want 1", len(a.verified))
	}
}

// TestSignInConcurrent signs in from many goroutines at once (run with
// -race): all succeed, and the remembered credential spares most of them
// bcrypt.
func TestSignInConcurrent(t *testing.T) {
	const workers, tries = 16, 50
	a := newCountedAuth(t, map[string]string{"ops": "s3cret"})
	h := header("ops", "s3cret")
	var wg sync.WaitGroup
	var refused atomic.Int64
	for range workers {
		wg.Go(func() {
			for range tries {
				if !a.allowed(h) {
					refused.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if refused.Load() != 0 {
		t.Errorf("%d of %d right sign-ins refused", refused.Load(), workers*tries)
	}
	// At most one comparison per goroutine: each may race the first.
	if got := a.bcrypts.Load(); got < 1 || got > workers {
		t.Errorf("%d bcrypt comparisons for %d sign-ins, want 1 to %d", got, workers*tries, workers)
	}
}

// TestSignedInRequestsThroughFiber: the middleware reads the header from
// the request and remembers it, so a signed-in client pays bcrypt on its
// first request only; static files cost none.
func TestSignedInRequestsThroughFiber(t *testing.T) {
	a := newCountedAuth(t, map[string]string{"ops": "s3cret"})
	app := fiber.New()
	app.Use(a.middleware)
	app.Get("/api/orders/:uid", func(c *fiber.Ctx) error { return c.SendString("order") })
	app.Get("/static/:name", func(c *fiber.Ctx) error { return c.SendString("file") })
	send := func(target string, h map[string]string) int {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 5 {
		if got := send("/api/orders/"+cachedUID, basic("ops", "s3cret")); got != http.StatusOK {
			t.Fatalf("signed-in request %d: status %d", i+1, got)
		}
		if got := send("/static/app.css", nil); got != http.StatusOK {
			t.Fatalf("static file %d: status %d", i+1, got)
		}
	}
	if got := a.bcrypts.Load(); got != 1 {
		t.Errorf("5 signed-in requests and 5 static files cost %d bcrypt comparisons, want 1", got)
	}
	for i := range 3 {
		if got := send("/api/orders/"+cachedUID, basic("ops", "guess")); got != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: status %d", i+1, got)
		}
	}
	if got := a.bcrypts.Load(); got != 4 {
		t.Errorf("3 wrong passwords after the sign-in: %d comparisons in all, want 4", got)
	}
}

// BenchmarkSignedInRemembered is the cost sign-in adds to a request whose
// credentials were checked before: the whole of it, beside a request's
// tens of microseconds.
func BenchmarkSignedInRemembered(b *testing.B) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	a := newBasicAuth(map[string]string{"ops": string(hash)})
	h := header("ops", "s3cret")
	if !a.allowed(h) {
		b.Fatal("right password refused")
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !a.allowed(h) {
				b.Fatal("remembered sign-in refused")
			}
		}
	})
}
