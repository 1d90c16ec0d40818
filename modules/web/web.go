// Package web is the service's HTTP face: the JSON API, the HTML pages, health
// and metrics. It reads orders through the small interfaces it declares,
// turns them into view models for package views, and maps every error to an
// answer in one place (errorHandler). It knows no other module but order:
// app fills Config and hands in what implements the interfaces.
package web

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/order"
)

// Config is what web needs from configuration; app fills it from http.*.
type Config struct {
	Addr string
	// RateLimit is the most requests one client may make per RateWindow;
	// 0 turns the limit off.
	RateLimit  int
	RateWindow time.Duration
	// TrustedProxies are peers (IPs or CIDRs) whose X-Forwarded-For names
	// the client; from any other peer the header is ignored.
	TrustedProxies []string
	// BasicAuthUsers maps a user name to its bcrypt hash; empty means pages
	// and API are open.
	BasicAuthUsers map[string]string
}

// Orders looks an order up by uid. The bool reports whether the cache answered;
// an unknown uid is an error that wraps order.ErrNotFound. *order.Service
// satisfies it.
type Orders interface {
	Get(ctx context.Context, uid string) (order.Record, bool, error)
}

// Searcher lists stored orders matching a filter, newest first.
type Searcher interface {
	Search(ctx context.Context, f order.Filter) (order.Page, error)
}

// Recent gives the newest orders held in memory, newest first.
type Recent interface {
	Newest(n int) []order.Record
}

// ParkedLister lists the messages parked on the dead-letter topic, of one
// kind or (kind "") of every kind, with the count of each kind. A cursor it
// cannot follow is an error wrapping ErrBadCursor; any other error means
// the topic could not be read in time, and is never a page with less.
type ParkedLister interface {
	ListParkedKind(ctx context.Context, kind order.Kind, limit int, cursor string) (order.ParkedPage, error)
}

// Observer hears what web counts: each read of one order is exactly one
// cache hit or miss.
type Observer interface {
	Lookup(hit bool)
}

// Deps is what the app is built from. Search, Recent and Parked may be nil:
// the routes that need them then answer 503 (API) or show less (pages).
type Deps struct {
	Orders   Orders
	Search   Searcher
	Recent   Recent
	Parked   ParkedLister
	Observer Observer
	// Metrics is what /metrics exposes.
	Metrics prometheus.Gatherer
	Checks  []Check
	Log     *slog.Logger
	// Done closes when the server is stopping, so that long-lived streams
	// end and let the shutdown finish. Nil means never.
	Done <-chan struct{}
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
	readTimeout = 10 * time.Second
	// writeTimeout bounds writing one answer; the live stream renews it for
	// each event it writes.
	writeTimeout = 10 * time.Second
	// idleTimeout bounds how long a kept-alive connection may wait for its
	// next request.
	idleTimeout = readTimeout
	bodyLimit   = 64 << 10
	// headerLimit bounds the request line and headers together: fasthttp
	// reads them into one buffer of this size and answers 431 when they do
	// not fit. A uid query is far shorter; 8 KiB leaves room for cookies and
	// proxies' headers.
	headerLimit   = 8 << 10
	lookupTimeout = 5 * time.Second
	checkTimeout  = 2 * time.Second
)

// ServerLimits is the part of the Fiber config that bounds what one
// connection may cost: timeouts and sizes. Benchmarks give their bare
// bound servers the same.
func ServerLimits() fiber.Config {
	return fiber.Config{
		ReadTimeout:    readTimeout,
		WriteTimeout:   writeTimeout,
		IdleTimeout:    idleTimeout,
		BodyLimit:      bodyLimit,
		ReadBufferSize: headerLimit,
	}
}

// NewApp builds the Fiber app with every route. It starts nothing: Module
// serves it, and tests drive it with app.Test.
//
// Fiber's strings (c.Params, c.Query, c.Path, c.Get) alias buffers that the
// next request on the connection reuses (Immutable is off: copying them all
// cost a twentieth of a cached read). Handlers use them while they run;
// whatever outlives the request (the limiter's keys, the live stream's
// state) is copied or built fresh.
func NewApp(cfg Config, d Deps) *fiber.App {
	h := &handlers{Deps: d, auth: newBasicAuth(cfg.BasicAuthUsers)}
	fc := ServerLimits()
	fc.AppName = "orders"
	fc.DisableStartupMessage = true
	fc.ErrorHandler = h.errorHandler
	// "/orders/a%20b" must reach the handler as "a b" so the 400 page can
	// show the user what they typed.
	fc.UnescapePath = true
	// X-Forwarded-For counts only from the configured proxies; with none,
	// the client is always the TCP peer.
	fc.EnableTrustedProxyCheck = true
	fc.TrustedProxies = cfg.TrustedProxies
	fc.ProxyHeader = fiber.HeaderXForwardedFor
	fc.EnableIPValidation = true
	// Known to the router, so that QUERY (RFC draft) gets 405 with Allow
	// like any other method a route does not serve, not fasthttp's 400.
	fc.RequestMethods = append(slices.Clone(fiber.DefaultMethods), "QUERY")
	app := fiber.New(fc)

	app.Use(securityHeaders)
	app.Use(recoverPanics)
	if cfg.RateLimit > 0 {
		app.Use(rateLimiter(cfg))
	}
	if h.auth != nil {
		app.Use(h.auth.middleware)
	}

	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{
		// A collector that fails to gather is worth a log line, not silence.
		ErrorLog: slog.NewLogLogger(d.Log.Handler(), slog.LevelError),
	})))
	app.Get("/static/:name", staticFile)

	api := app.Group("/api")
	api.Get("/getOrder", h.apiGetOrder)
	api.Get("/orders", h.apiSearch)
	api.Get("/orders/:uid?", h.apiOrderByPath)
	api.Get("/dlq", h.apiParked)
	api.Get("/openapi.yaml", serveOpenAPI)

	app.Get("/", h.pageHome)
	app.Get("/orders/:uid?", h.pageOrder)
	app.Get("/dlq", h.pageParked)
	app.Get("/live/orders", h.liveOrders)
	return app
}

// openPaths are never limited nor signed in: probes and scrapers come often
// from one address, and locking them out would restart or blind a healthy
// service.
func openPath(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// rateLimiter counts requests per client in fixed windows. Over the limit
// the answer is a 429 problem with Retry-After, set by the limiter before it
// calls LimitReached.
func rateLimiter(cfg Config) fiber.Handler {
	return limiter.New(limiter.Config{
		Next:         func(c *fiber.Ctx) bool { return openPath(c.Path()) },
		Max:          cfg.RateLimit,
		Expiration:   cfg.RateWindow,
		KeyGenerator: clientIP(prefixes(cfg.TrustedProxies)),
		LimitReached: func(*fiber.Ctx) error { return fiber.ErrTooManyRequests },
	})
}

// clientIP is the TCP peer, or, when the peer is a trusted proxy, the
// nearest address in X-Forwarded-For that is not one: proxies append what
// they saw, so the entries left of the last untrusted one are whatever the
// client chose to write.
func clientIP(proxies []netip.Prefix) func(c *fiber.Ctx) string {
	return func(c *fiber.Ctx) string {
		peer := c.Context().RemoteIP().String()
		if !c.IsProxyTrusted() {
			return peer
		}
		ips := c.IPs()
		for i := len(ips) - 1; i >= 0; i-- {
			if !inPrefixes(ips[i], proxies) {
				// The limiter keeps the key; the header's bytes are reused.
				return strings.Clone(ips[i])
			}
		}
		return peer
	}
}

// prefixes reads the trusted proxies: CIDRs, or single addresses.
func prefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out
}

func inPrefixes(ip string, list []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// handlers holds what the routes share.
type handlers struct {
	Deps
	auth *basicAuth
}

// lookup reads one order, counting exactly one cache hit or miss, and bounds
// the wait so a stuck store still gets an answer to the client.
func (h *handlers) lookup(c *fiber.Ctx, uid string) (order.Record, bool, error) {
	// No deadline here: a cache hit needs none, and the store bounds its own
	// reads (a timer per request cost a fifth of a cached answer).
	rec, hit, err := h.Orders.Get(c.UserContext(), uid)
	h.Observer.Lookup(hit)
	if err != nil {
		return order.Record{}, false, &lookupError{uid: uid, err: err}
	}
	return rec, hit, nil
}

// contentSecurityPolicy allows the app's own stylesheet and scripts, its own
// event stream and same-origin forms, and nothing else: no inline scripts or
// styles, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

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
