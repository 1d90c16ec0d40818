package main

import (
	"context"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/cache"
	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/kafka"
	"github.com/marketplace/orders/modules/logging"
	"github.com/marketplace/orders/modules/metrics"
	"github.com/marketplace/orders/modules/order"
	"github.com/marketplace/orders/modules/postgres"
	"github.com/marketplace/orders/modules/web"
)

// Options is the whole service. Start order follows the modules below, whose
// hooks are appended as they are invoked: connect and migrate the database,
// warm the cache, open the HTTP port, join the consumer group. Stop runs in
// reverse: the consumer finishes its batch and commits first, the database
// closes last.
func Options(cfg config.Config) fx.Option {
	return fx.Options(
		fx.Supply(cfg),
		fx.StartTimeout(cfg.Postgres.ConnectTimeout+15*time.Second),
		// Under the contract's 10 s from SIGTERM to exit.
		fx.StopTimeout(9*time.Second),
		logging.Module,
		logging.FxLogger,
		metrics.Module,
		fx.Supply(postgres.Config{DSN: cfg.Postgres.DSN, ConnectTimeout: cfg.Postgres.ConnectTimeout}),
		postgres.Module,
		cache.Module,
		fx.Module("orders",
			fx.Provide(
				func(s *postgres.Store) order.Store { return s },
				func(c *cache.Cache) order.Cache { return c },
				order.NewService,
				func(s *order.Service) kafka.Ingester { return s },
				// Migration and warm-up need no checks of their own: the HTTP port
				// opens only after both start hooks succeeded.
				web.AsCheck(func(s *postgres.Store) web.Check { return web.Check{Name: "database", Run: s.Ping} }),
				web.AsCheck(func(c *kafka.Consumer) web.Check { return web.Check{Name: "kafka", Run: c.ReadyCheck} }),
			),
			fx.Invoke(warm),
		),
		web.Module,
		kafka.Module,
	)
}

// warm fills the cache from the database before the HTTP port opens.
func warm(lc fx.Lifecycle, svc *order.Service, log *slog.Logger) {
	lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
		start := time.Now()
		n, err := svc.Warm(ctx)
		if err != nil {
			return err
		}
		log.Info("cache warmed", "orders", n, "took", time.Since(start).Round(time.Millisecond))
		return nil
	}})
}
