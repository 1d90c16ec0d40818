package web

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"
)

// basicAuth is the optional HTTP Basic sign-in, as Prometheus's web config
// does it: users and bcrypt hashes from configuration; probes and /metrics
// stay open.
type basicAuth struct {
	users map[string][]byte
	// dummy is compared against for an unknown user, so that an unknown
	// name costs the same bcrypt work as a wrong password and the timing
	// does not tell which names exist.
	dummy []byte
}

func newBasicAuth(users map[string]string) *basicAuth {
	if len(users) == 0 {
		return nil
	}
	a := &basicAuth{users: make(map[string][]byte, len(users))}
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
	if openPath(c.Path()) {
		return c.Next()
	}
	name, password, ok := parseBasic(c.Get(fiber.HeaderAuthorization))
	if !ok || !a.check(name, password) {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="orders", charset="UTF-8"`)
		return errUnauthorized
	}
	return c.Next()
}

// check runs one bcrypt comparison whether or not the user exists.
func (a *basicAuth) check(name, password string) bool {
	hash, known := a.users[name]
	if !known {
		hash = a.dummy
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
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
