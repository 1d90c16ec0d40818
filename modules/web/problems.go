package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/views"
)

// msg is a sentence for people: an English format, which pages show in
// their language (views.Tf), and the values it quotes. Problem answers
// carry the English.
type msg struct {
	format string
	args   []any
}

func say(format string, args ...any) msg { return msg{format: format, args: args} }

func (m msg) String() string { return views.Spans(m.format, m.args...).String() }

func (m msg) in(lang string) views.Text { return views.Tf(lang, m.format, m.args...) }

// badRequest is a request the client can fix; its detail is written for them.
type badRequest struct {
	heading string // for the page, e.g. "Not an order uid"
	detail  msg
	// typed is the uid as the user gave it, to refill the search box.
	typed string
}

func (e *badRequest) Error() string { return e.detail.String() }

// unavailableError is a backend that did not answer in time or at all: the
// client may try again, and the cause goes to the log.
type unavailableError struct {
	detail msg
	err    error
}

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// lookupError is a failed read of the order under uid: order.ErrNotFound for
// an unknown uid, anything else is the store's failure and stays in the log.
type lookupError struct {
	uid string
	err error
}

// Error is the cause's text alone: the store already names the uid.
func (e *lookupError) Error() string { return e.err.Error() }
func (e *lookupError) Unwrap() error { return e.err }

// problem is an RFC 9457 problem detail. Every member is always present: the
// contract promises clients all four.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

const problemContentType = "application/problem+json"

// answer is what errorHandler sends: the problem, and for pages a heading,
// the detail in the page's language and the uid to refill the search box
// with.
type answer struct {
	problem
	heading string
	detail  msg
	typed   string
}

// errorHandler is the one place errors become answers: problem JSON for
// machine paths, the HTML error page for everything else. A 431 is always a
// problem: the server gave up before parsing the request line, so c.Path()
// is "/" whatever was asked, and a problem is the answer any client can read.
func (h *handlers) errorHandler(c *fiber.Ctx, err error) error {
	a := h.toAnswer(c, err)

	// A handler may have failed half-way through writing; the answer is the
	// problem alone. Headers stay: the router's Allow belongs to a 405.
	c.Response().ResetBody()
	setSecurityHeaders(c)
	c.Status(a.Status)

	if isMachinePath(c.Path()) || a.Status == http.StatusRequestHeaderFieldsTooLarge {
		body, merr := json.Marshal(a.problem)
		if merr != nil {
			return fmt.Errorf("encode problem: %w", merr)
		}
		c.Set(fiber.HeaderContentType, problemContentType)
		return c.Send(body)
	}
	c.Type("html", "utf-8")
	p := pageOf(c, a.typed)
	return views.ErrorPage(views.ErrorView{
		Page:   p,
		Status: a.Status,
		Title:  views.T(p.Lang, a.heading),
		Detail: a.detail.in(p.Lang),
	}).Render(c.UserContext(), c.Response().BodyWriter())
}

// toAnswer decides status and texts. Only texts written here reach the
// client; an error's own text goes to the log.
func (h *handlers) toAnswer(c *fiber.Ctx, err error) answer {
	var (
		bad    *badRequest
		lookup *lookupError
		down   *unavailableError
		fe     *fiber.Error
		pe     *panicError
	)
	typed := ""
	if errors.As(err, &lookup) {
		typed = lookup.uid
	}
	switch {
	case errors.As(err, &pe):
		// Whatever the panic value was, a panic is a bug: a plain 500.
		h.Log.ErrorContext(c.UserContext(), "panic in handler",
			"method", c.Method(), "path", c.Path(), "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		return newAnswer(http.StatusInternalServerError, "Something went wrong", msgTryLater, "")
	case errors.As(err, &bad):
		return newAnswer(http.StatusBadRequest, bad.heading, bad.detail, bad.typed)
	case errors.Is(err, order.ErrNotFound):
		detail := say("No order has the uid %q.", typed)
		if c.Path() == "/" && h.Search != nil {
			// The search box looked beyond the uid.
			detail = say("No order has %q as its uid, track number, transaction, customer id or phone.", clip(typed))
		}
		return newAnswer(http.StatusNotFound, "Order not found", detail, typed)
	case errors.As(err, &down):
		h.Log.WarnContext(c.UserContext(), "backend unavailable", "method", c.Method(), "path", c.Path(), "err", err)
		c.Set(fiber.HeaderRetryAfter, "5")
		return newAnswer(http.StatusServiceUnavailable, "Not available just now", down.detail, "")
	case errors.As(err, &fe) && (fe.Code < http.StatusInternalServerError || fe.Code == http.StatusServiceUnavailable):
		return routerAnswer(c, fe.Code)
	default:
		h.Log.ErrorContext(c.UserContext(), "request failed",
			"method", c.Method(), "path", c.Path(), "order_uid", typed, "err", err)
		return newAnswer(http.StatusInternalServerError, "Something went wrong", msgTryLater, typed)
	}
}

var msgTryLater = say("The server could not answer this request. Try again later.")

// newAnswer titles the problem with the status phrase, as RFC 9457 asks of
// the "about:blank" type; the specific words go to detail and the heading.
func newAnswer(status int, heading string, detail msg, typed string) answer {
	title := http.StatusText(status)
	if title == "" {
		title = "Error"
	}
	if heading == "" {
		heading = title
	}
	return answer{
		problem: problem{Type: "about:blank", Title: title, Status: status, Detail: detail.String()},
		heading: heading,
		detail:  detail,
		typed:   typed,
	}
}

// routerAnswer words the router's and the server's own errors. Their messages
// are not used: some echo raw request bytes back.
func routerAnswer(c *fiber.Ctx, status int) answer {
	switch status {
	case http.StatusNotFound:
		return newAnswer(status, "Page not found", say("There is no page at %q.", clip(c.Path())), "")
	case http.StatusMethodNotAllowed:
		return newAnswer(status, "", say("Method %s is not allowed here; use `GET`.", clip(c.Method())), "")
	case http.StatusUnauthorized:
		return newAnswer(status, "Sign in", say("Sign in to see orders."), "")
	case http.StatusServiceUnavailable:
		return newAnswer(status, "", say("This listing is not available on this server."), "")
	case http.StatusRequestEntityTooLarge:
		return newAnswer(status, "", say("The request body is larger than %d KiB.", bodyLimit>>10), "")
	case http.StatusRequestHeaderFieldsTooLarge:
		return newAnswer(status, "", say("The request line and headers are larger than %d KiB together.", headerLimit>>10), "")
	case http.StatusTooManyRequests:
		if s := c.GetRespHeader(fiber.HeaderRetryAfter); s != "" {
			return newAnswer(status, "", say("Too many requests from your address. Try again in %s s.", s), "")
		}
		return newAnswer(status, "", say("Too many requests from your address. Try again later."), "")
	default:
		return newAnswer(status, "", say("The request could not be read."), "")
	}
}

// isMachinePath reports whether the path belongs to programs, which read
// problem JSON, rather than to people, who read pages.
func isMachinePath(path string) bool {
	switch path {
	case "/api", "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, "/api/")
}

// panicError is a handler's panic, caught by recoverPanics with the stack of
// the goroutine that panicked. errorHandler logs it, once, and answers 500.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// recoverPanics turns a panic further down the chain into a *panicError. It
// logs nothing itself: the error handler writes the one log line, so a panic
// is never logged twice.
func recoverPanics(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return c.Next()
}

// clip keeps an echoed value short: a detail quotes what it rejects.
func clip(s string) string { return order.Clip(s, 80) }
