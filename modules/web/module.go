package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/order"
)

// Module serves the app on http.addr with the limits of config.HTTP. It reads
// orders from *order.Service and gathers readiness checks from the
// "readiness" value group (see AsCheck).
// The port opens in OnStart, so it opens only after the hooks of everything
// the app depends on have run.
var Module = fx.Module("web",
	fx.Provide(
		fx.Private,
		func(s *order.Service) Orders { return s },
		optionsFrom,
	),
	fx.Provide(fx.Annotate(NewApp, fx.ParamTags(``, ``, readinessGroup, ``, ``))),
	fx.Invoke(serve),
)

func optionsFrom(cfg config.Config) Options {
	return Options{RateLimit: cfg.HTTP.RateLimit, RateWindow: cfg.HTTP.RateWindow}
}

func serve(lc fx.Lifecycle, sd fx.Shutdowner, app *fiber.App, cfg config.Config, log *slog.Logger) {
	done := make(chan struct{})
	stopping := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			// Listening here rather than in the goroutine makes a taken port
			// fail the start instead of a log line after it.
			ln, err := net.Listen("tcp", cfg.HTTP.Addr)
			if err != nil {
				return fmt.Errorf("http listen on %s: %w", cfg.HTTP.Addr, err)
			}
			log.Info("http listening", "addr", ln.Addr().String())
			go func() {
				defer close(done)
				err := app.Listener(ln)
				select {
				case <-stopping:
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
			close(stopping)
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
