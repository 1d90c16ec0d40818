package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

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
				err := app.Listener(ln)
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
			if err := app.ShutdownWithContext(ctx); err != nil {
				return fmt.Errorf("http shutdown: %w", err)
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
