package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"
)

func (h *handlers) healthz(c *fiber.Ctx) error {
	c.Type("txt", "utf-8")
	return c.SendString("ok")
}

// readiness is the /readyz body. Checks names each failing check with one of
// the fixed words checkFailed or checkTimedOut: a check's error may carry a
// driver's message (hosts, users, ports), and that goes to the log only.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// What /readyz says of a failing check.
const (
	checkFailed   = "failed"
	checkTimedOut = "timeout"
)

func (h *handlers) readyz(c *fiber.Ctx) error {
	failed := h.runChecks(c.UserContext())
	if len(failed) == 0 {
		return c.Status(http.StatusOK).JSON(readiness{Status: "ready"})
	}
	return c.Status(http.StatusServiceUnavailable).JSON(readiness{Status: "not ready", Checks: failed})
}

// runChecks runs the checks one after another, all within one checkTimeout,
// and returns the failures by name. Every check honours its context, so none
// outlives the call. Each failure is logged once, with its error.
func (h *handlers) runChecks(ctx context.Context) map[string]string {
	checkCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()

	var failed map[string]string
	for _, chk := range h.Checks {
		err := chk.Run(checkCtx)
		if err == nil {
			continue
		}
		if failed == nil {
			failed = make(map[string]string)
		}
		// The check's own error decides: one that ran out of the budget
		// says so (a Ping wraps its context's error), while a check that
		// failed for its own reason, even after the budget, did not time out.
		word := checkFailed
		if errors.Is(err, context.DeadlineExceeded) {
			word = checkTimedOut
		}
		failed[chk.Name] = word
		h.Log.WarnContext(ctx, "readiness check failed", "check", chk.Name, "result", word, "err", err)
	}
	return failed
}
