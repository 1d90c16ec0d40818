// Package web is the service's HTTP face: the JSON API, the HTML pages, health
// and metrics. It reads orders through the small Orders interface it declares,
// turns them into view models for package views, and maps every error to an
// answer in one place (errorHandler).
package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/metrics"
	"github.com/marketplace/orders/modules/order"
)

// Orders looks an order up by uid. The bool reports whether the cache answered;
// an unknown uid is an error that wraps order.ErrNotFound. *order.Service
// satisfies it.
type Orders interface {
	Get(ctx context.Context, uid string) (order.Record, bool, error)
}

// Check is one condition /readyz waits for. Run returns nil when the condition
// holds, and must return soon once its context is done: /readyz runs the checks
// one after another within one checkTimeout and waits for each. Its error goes
// to the log; /readyz shows only "failed" or "timeout".
type Check struct {
	Name string
	Run  func(context.Context) error
}

// readinessGroup is the Fx value group /readyz collects its checks from.
const readinessGroup = `group:"readiness"`

// AsCheck marks a constructor returning a Check so that Fx adds its result to
// the readiness checks: fx.Provide(web.AsCheck(newDatabaseCheck)).
func AsCheck(f any) any {
	return fx.Annotate(f, fx.ResultTags(readinessGroup))
}

// Limits and timeouts of the server. A lookup has less time than a write so
// that a slow store still yields a problem answer before the connection is cut.
// They bound what one connection can cost, which only changes with the code,
// so they are not settings; the rate limit depends on the traffic and is.
const (
	readTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
	idleTimeout  = 60 * time.Second
	bodyLimit    = 64 << 10
	// headerLimit bounds the request line and headers together: fasthttp
	// reads them into one buffer of this size and answers 431 when they do
	// not fit. A uid query is far shorter; 8 KiB leaves room for cookies and
	// proxies' headers.
	headerLimit   = 8 << 10
	lookupTimeout = 5 * time.Second
	checkTimeout  = 2 * time.Second
)

// Options are the server's settings that come from configuration.
type Options struct {
	// RateLimit is the most requests one client IP may make per RateWindow;
	// 0 turns the limit off.
	RateLimit  int
	RateWindow time.Duration
}

// NewApp builds the Fiber app with every route. It starts nothing: Module
// serves it, and tests drive it with app.Test.
func NewApp(orders Orders, m *metrics.Metrics, checks []Check, log *slog.Logger, opts Options) *fiber.App {
	h := &handlers{orders: orders, metrics: m, checks: checks, log: log}
	app := fiber.New(fiber.Config{
		AppName:               "orders",
		DisableStartupMessage: true,
		ErrorHandler:          h.errorHandler,
		ReadTimeout:           readTimeout,
		WriteTimeout:          writeTimeout,
		IdleTimeout:           idleTimeout,
		BodyLimit:             bodyLimit,
		ReadBufferSize:        headerLimit,
		// Fiber's strings otherwise alias buffers reused by the next request;
		// a uid can outlive the handler inside an error or a log record, and
		// the limiter keeps client IPs as keys.
		Immutable: true,
		// "/orders/a%20b" must reach the handler as "a b" so the 400 page can
		// show the user what they typed.
		UnescapePath: true,
	})

	app.Use(securityHeaders)
	app.Use(recoverPanics)
	if opts.RateLimit > 0 {
		app.Use(rateLimiter(opts))
	}

	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		// A collector that fails to gather is worth a log line, not silence.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError),
	})))
	app.Get("/static/app.css", staticCSS)

	api := app.Group("/api")
	api.Get("/getOrder", h.apiGetOrder)
	api.Get("/orders/:uid?", h.apiOrderByPath)

	app.Get("/", h.pageSearch)
	app.Get("/orders/:uid?", h.pageOrder)
	return app
}

// rateLimiter counts requests per client IP in fixed windows. Over the limit
// the answer is a 429 problem with Retry-After, set by the limiter before it
// calls LimitReached.
func rateLimiter(opts Options) fiber.Handler {
	return limiter.New(limiter.Config{
		// Probes and scrapers come often from one address, and locking them
		// out would restart or blind a healthy service.
		Next: func(c *fiber.Ctx) bool {
			switch c.Path() {
			case "/healthz", "/readyz", "/metrics":
				return true
			}
			return false
		},
		Max:        opts.RateLimit,
		Expiration: opts.RateWindow,
		// The peer address, never X-Forwarded-For: no ProxyHeader is set,
		// because a client could write any address there and so escape its
		// own limit or spend someone else's.
		KeyGenerator: func(c *fiber.Ctx) string { return c.IP() },
		LimitReached: func(*fiber.Ctx) error { return fiber.ErrTooManyRequests },
	})
}

// handlers holds what the routes share.
type handlers struct {
	orders  Orders
	metrics *metrics.Metrics
	checks  []Check
	log     *slog.Logger
}

// lookup reads one order, counting exactly one cache hit or miss, and bounds
// the wait so a stuck store still gets an answer to the client.
func (h *handlers) lookup(c *fiber.Ctx, uid string) (order.Record, error) {
	ctx, cancel := context.WithTimeout(c.UserContext(), lookupTimeout)
	defer cancel()
	rec, hit, err := h.orders.Get(ctx, uid)
	h.metrics.Lookup(hit)
	if err != nil {
		return order.Record{}, &lookupError{uid: uid, err: err}
	}
	return rec, nil
}

// contentSecurityPolicy allows the linked stylesheet and same-origin forms
// and nothing else: no scripts, no inline styles, no framing.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

// setSecurityHeaders is also called by the error handler, which runs without
// the middleware when fasthttp rejects a request before routing (say, a body
// over the limit).
func setSecurityHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderContentSecurityPolicy, contentSecurityPolicy)
	// frame-ancestors covers current browsers; this covers the older ones.
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	// Orders carry names, phones and addresses: no shared cache may keep them.
	c.Set(fiber.HeaderCacheControl, "no-store")
}
