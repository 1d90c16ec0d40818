package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"
)

// How long and how many verified credentials are remembered. bcrypt costs
// tens of milliseconds by design, and a browser or script sends the same
// Authorization header with every request: checking it once and remembering
// the answer makes a signed-in read cost what an open one does. The users do
// not change while the process runs, so the expiry is not about staleness: it
// and the count bound the memory, and a credential nobody uses for a few
// minutes goes back to costing one bcrypt.
const (
	signInTTL     = 5 * time.Minute
	signInEntries = 1024
)

// basicAuth is the optional HTTP Basic sign-in, as Prometheus's web config
// does it: users and bcrypt hashes from configuration; probes, /metrics and
// the static files stay open.
//
// The users are fixed for the life of the process (configuration is read
// once at start), and the remembered credentials belong to the basicAuth
// built from them: a restart with other users starts with none remembered.
type basicAuth struct {
	users map[string][]byte
	// dummy is compared against for an unknown user, so that an unknown
	// name costs the same bcrypt work as a wrong password and the timing
	// does not tell which names exist.
	dummy []byte
	// compare is bcrypt.CompareHashAndPassword; tests count its calls.
	compare func(hash, password []byte) error
	now     func() time.Time

	// secret keys the hash of a remembered header: what is remembered is
	// not a plain SHA-256 of the credentials, which would be the same in
	// every process and could be tested against guesses without the key.
	// Each process draws its own.
	secret []byte
	// macs holds HMAC states keyed by secret, so that a remembered sign-in
	// allocates nothing.
	macs sync.Pool
	ttl  time.Duration
	max  int
	mu   sync.RWMutex
	// verified maps the HMAC of an Authorization header that passed bcrypt
	// to when that check stops counting.
	verified map[[sha256.Size]byte]time.Time
}

func newBasicAuth(users map[string]string) *basicAuth {
	if len(users) == 0 {
		return nil
	}
	a := &basicAuth{
		users:    make(map[string][]byte, len(users)),
		compare:  bcrypt.CompareHashAndPassword,
		now:      time.Now,
		secret:   make([]byte, sha256.Size),
		ttl:      signInTTL,
		max:      signInEntries,
		verified: make(map[[sha256.Size]byte]time.Time),
	}
	// rand.Read never fails on the platforms Go supports (it panics
	// rather than return an error since Go 1.24).
	_, _ = rand.Read(a.secret)
	a.macs.New = func() any { return &mac{Hash: hmac.New(sha256.New, a.secret)} }
	cost := bcrypt.DefaultCost
	for name, hash := range users {
		a.users[name] = []byte(hash)
		if c, err := bcrypt.Cost([]byte(hash)); err == nil {
			cost = c
		}
	}
	// The dummy costs what the users' hashes cost, so both paths take as
	// long. GenerateFromPassword fails only for a cost out of range, which a
	// parsed hash cannot have.
	a.dummy, _ = bcrypt.GenerateFromPassword([]byte("no user has this password"), cost)
	return a
}

// errUnauthorized asks for credentials; errorHandler words the answer.
var errUnauthorized = fiber.NewError(http.StatusUnauthorized)

func (a *basicAuth) middleware(c *fiber.Ctx) error {
	if openPath(c.Path()) || staticPath(c.Path()) {
		return c.Next()
	}
	if !a.allowed(c.Request().Header.Peek(fiber.HeaderAuthorization)) {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="orders", charset="UTF-8"`)
		return errUnauthorized
	}
	return c.Next()
}

// staticPath is the stylesheet, scripts and icon: the same for everyone and
// free of orders, so they load without sign-in (the browser asks for them
// before and beside the page, and each would otherwise need a check).
func staticPath(path string) bool {
	return strings.HasPrefix(path, "/static/")
}

// allowed reports whether the Authorization header signs a user in: from
// memory when the same header passed bcrypt less than ttl ago, else by one
// bcrypt comparison. Only a success is remembered, so a wrong password costs
// bcrypt's time on every try.
func (a *basicAuth) allowed(header []byte) bool {
	if len(header) == 0 {
		return false
	}
	key := a.key(header)
	now := a.now()
	a.mu.RLock()
	until, ok := a.verified[key]
	a.mu.RUnlock()
	if ok && now.Before(until) {
		return true
	}
	name, password, ok := parseBasic(string(header))
	if !ok || !a.check(name, password) {
		return false
	}
	a.remember(key, now)
	return true
}

// key is the HMAC of the whole header: it never holds the password, and two
// spellings of one credential are two entries, each checked by bcrypt once.
func (a *basicAuth) key(header []byte) [sha256.Size]byte {
	m := a.macs.Get().(*mac)
	m.Reset()
	m.Write(header)
	k := [sha256.Size]byte(m.Sum(m.sum[:0]))
	a.macs.Put(m)
	return k
}

// mac is a pooled HMAC state with room for its sum.
type mac struct {
	hash.Hash
	sum [sha256.Size]byte
}

// remember keeps a verified header until now+ttl. When the memory is full it
// drops the expired entries, then, if none had expired, the one that would
// expire first. Inserts follow a bcrypt comparison, so the scan over at most
// max entries is small beside it.
func (a *basicAuth) remember(key [sha256.Size]byte, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.verified[key]; !ok && len(a.verified) >= a.max {
		var oldest [sha256.Size]byte
		var oldestUntil time.Time
		for k, until := range a.verified {
			if !now.Before(until) {
				delete(a.verified, k)
				continue
			}
			if oldestUntil.IsZero() || until.Before(oldestUntil) {
				oldest, oldestUntil = k, until
			}
		}
		if len(a.verified) >= a.max {
			delete(a.verified, oldest)
		}
	}
	a.verified[key] = now.Add(a.ttl)
}

// check runs one bcrypt comparison whether or not the user exists.
func (a *basicAuth) check(name, password string) bool {
	hash, known := a.users[name]
	if !known {
		hash = a.dummy
	}
	match := a.compare(hash, []byte(password)) == nil
	return match && known
}

func parseBasic(header string) (name, password string, ok bool) {
	const prefix = "basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
