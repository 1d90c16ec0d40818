package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/order"
)

// Module serves the app on Config.Addr. It needs from the graph: Config,
// *order.Service, an Observer, a prometheus.Gatherer, a *slog.Logger and the
// "readiness" value group (see AsCheck); a Searcher, a Recent and a
// ParkedLister when provided.
// The port opens in OnStart, so it opens only after the hooks of everything
// the app depends on have run.
var Module = fx.Module("web",
	fx.Provide(
		fx.Private,
		func(s *order.Service) Orders { return s },
		newStopping,
	),
	fx.Provide(newFromGraph),
	fx.Invoke(serve),
)

// stopping closes when the server begins to stop, ending live streams.
type stopping chan struct{}

func newStopping() stopping { return make(stopping) }

type graphDeps struct {
	fx.In
	Config   Config
	Orders   Orders
	Observer Observer
	Metrics  prometheus.Gatherer
	Checks   []Check `group:"readiness"`
	Log      *slog.Logger
	Stopping stopping
	Search   Searcher     `optional:"true"`
	Recent   Recent       `optional:"true"`
	Parked   ParkedLister `optional:"true"`
}

func newFromGraph(g graphDeps) *fiber.App {
	return NewApp(g.Config, Deps{
		Orders:   g.Orders,
		Search:   g.Search,
		Recent:   g.Recent,
		Parked:   g.Parked,
		Observer: g.Observer,
		Metrics:  g.Metrics,
		Checks:   g.Checks,
		Log:      g.Log,
		Done:     g.Stopping,
	})
}

func serve(lc fx.Lifecycle, sd fx.Shutdowner, app *fiber.App, cfg Config, stop stopping, log *slog.Logger) {
	done := make(chan struct{})
	open := newConns()
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			// Listening here rather than in the goroutine makes a taken port
			// fail the start instead of a log line after it.
			ln, err := net.Listen("tcp", cfg.Addr)
			if err != nil {
				return fmt.Errorf("http listen on %s: %w", cfg.Addr, err)
			}
			log.Info("http listening", "addr", ln.Addr().String())
			go func() {
				defer close(done)
				err := app.Listener(open.listener(ln))
				select {
				case <-stop:
				default:
					if err == nil {
						err = errors.New("server stopped unasked")
					}
					log.Error("http serve", "err", err)
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			close(stop)
			// Requests in progress may finish until a second before the stop
			// budget ends; connections that send nothing are closed as they
			// turn silent (conns.go).
			budget := ctx
			if deadline, ok := ctx.Deadline(); ok {
				var cancel context.CancelFunc
				budget, cancel = context.WithDeadline(ctx, deadline.Add(-time.Second))
				defer cancel()
			}
			shut := make(chan error, 1)
			go func() { shut <- app.ShutdownWithContext(budget) }()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			var err error
		wait:
			for {
				select {
				case now := <-tick.C:
					open.closeSilent(now)
				case err = <-shut:
					break wait
				}
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("http shutdown: %w", err)
			}
			if n := open.closeAll(); n > 0 {
				log.Warn("http: connections still in a request at stop were closed", "connections", n)
			}
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return fmt.Errorf("http shutdown: %w", ctx.Err())
			}
		},
	})
}
