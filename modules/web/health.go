package web

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

func (h *handlers) healthz(c *fiber.Ctx) error {
	c.Type("txt", "utf-8")
	return c.SendString("ok")
}

// readiness is the /readyz body. Checks names each failing check with a
// short reason.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

func (h *handlers) readyz(c *fiber.Ctx) error {
	failed := h.runChecks(c.UserContext())
	if len(failed) == 0 {
		return c.Status(http.StatusOK).JSON(readiness{Status: "ready"})
	}
	return c.Status(http.StatusServiceUnavailable).JSON(readiness{Status: "not ready", Checks: failed})
}

// runChecks runs every check at once, so /readyz answers within one check
// timeout however many there are, and returns the failures by name.
func (h *handlers) runChecks(ctx context.Context) map[string]string {
	errs := make([]error, len(h.checks))
	var wg sync.WaitGroup
	for i, chk := range h.checks {
		wg.Go(func() { errs[i] = runCheck(ctx, chk) })
	}
	wg.Wait()

	var failed map[string]string
	for i, err := range errs {
		if err == nil {
			continue
		}
		if failed == nil {
			failed = make(map[string]string)
		}
		name := h.checks[i].Name
		h.log.DebugContext(ctx, "readiness check failed", "check", name, "err", err)
		failed[name] = reason(err)
	}
	return failed
}

// runCheck gives a check checkTimeout. A check that ignores its context is
// abandoned, not waited for: its goroutine ends when it returns, and its
// buffered send does not block.
func runCheck(ctx context.Context, chk Check) error {
	if chk.Run == nil {
		return errors.New("check has no function")
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("check panicked: %v", r)
			}
		}()
		done <- chk.Run(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("no answer within %s", checkTimeout)
	}
}

var (
	// urlCredentials matches the user:password@ of a URL-style DSN.
	urlCredentials = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@`)
	// passwordPair matches password=... of a key=value DSN.
	passwordPair = regexp.MustCompile(`(?i)(password\s*=\s*)\S+`)
)

// reason is a check's error as /readyz shows it: one line, short, and with
// any credentials a driver put into its message cut out, since anyone who
// can reach the port can read it.
func reason(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	s = urlCredentials.ReplaceAllString(s, "$1")
	s = passwordPair.ReplaceAllString(s, "$1…")
	return clip(s)
}

// appCSS is the only stylesheet: pages link it because the Content-Security-
// Policy forbids inline styles.
//
//go:embed static/app.css
var appCSS string

func staticCSS(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.SendString(appCSS)
}
