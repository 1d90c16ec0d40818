package web

import (
	"encoding/base64"
	"net/http"
	"testing"

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
		{"static without credentials", "/static/app.css", nil, 401},
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
