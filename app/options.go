package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
		// Each module gets its own settings; only app knows them all.
		fx.Supply(
			logging.Config{Level: cfg.Log.Level, Format: cfg.Log.Format},
			postgres.Config{
				DSN: cfg.Postgres.DSN, DirectDSN: cfg.Postgres.DirectDSN, MaxConns: cfg.Postgres.MaxConns,
				ConnectTimeout: cfg.Postgres.ConnectTimeout, MigrateTimeout: cfg.Postgres.MigrateTimeout,
			},
			cache.Config{Capacity: cfg.Cache.Capacity, MaxBytes: cfg.Cache.MaxBytes},
			kafka.Config{
				Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.Topic, Group: cfg.Kafka.Group, DLQTopic: cfg.Kafka.DLQTopic,
				Partitions: cfg.Kafka.Partitions, BatchSize: cfg.Kafka.BatchSize, BatchWait: cfg.Kafka.BatchWait,
				Rules: order.Rules{Totals: cfg.Validation.Totals, MaxFuture: cfg.Validation.MaxFuture},
				Security: kafka.Security{
					TLS: cfg.Kafka.TLS, CAFile: cfg.Kafka.TLSCAFile, CertFile: cfg.Kafka.TLSCertFile, KeyFile: cfg.Kafka.TLSKeyFile,
					SASLMechanism: cfg.Kafka.SASLMechanism, SASLUsername: cfg.Kafka.SASLUsername, SASLPassword: cfg.Kafka.SASLPassword,
				},
			},
			web.Config{
				Addr: cfg.HTTP.Addr, RateLimit: cfg.HTTP.RateLimit, RateWindow: cfg.HTTP.RateWindow,
				TrustedProxies: cfg.HTTP.TrustedProxies, BasicAuthUsers: cfg.HTTP.BasicAuthUsers,
			},
		),
		// Start includes the migrations, which on a large table take minutes
		// (README, "Upgrading to schema version 6").
		fx.StartTimeout(cfg.Postgres.ConnectTimeout+cfg.Postgres.MigrateTimeout+15*time.Second),
		// Under the contract's 10 s from SIGTERM to exit.
		fx.StopTimeout(9*time.Second),
		logging.Module,
		logging.FxLogger,
		metrics.Module,
		postgres.Module,
		cache.Module,
		fx.Module("orders",
			fx.Provide(
				func(s *postgres.Store) order.Store { return s },
				func(c *cache.Cache) order.Cache { return c },
				order.NewService,
				func(s *order.Service) kafka.Ingester { return s },
				func(m *metrics.Metrics) kafka.Observer { return m },
				// Migration and warm-up need no checks of their own: the HTTP port
				// opens only after both start hooks succeeded.
				web.AsCheck(func(s *postgres.Store) web.Check { return web.Check{Name: "database", Run: s.Ping} }),
				web.AsCheck(func(c *kafka.Consumer) web.Check { return web.Check{Name: "kafka", Run: c.ReadyCheck} }),
				web.AsCheck(func(f *postgres.Follower) web.Check { return web.Check{Name: "cache", Run: f.ReadyCheck} }),
				func(s *postgres.Store, cfg postgres.Config, c *cache.Cache, m *metrics.Metrics, log *slog.Logger) *postgres.Follower {
					return postgres.NewFollower(s, cfg, c, m, log)
				},
			),
			fx.Invoke(follow, gauges),
		),
		fx.Provide(
			webObserver, webMetrics,
			func(c *cache.Cache) web.Recent { return c },
			func(s *postgres.Store) web.Searcher { return s },
			func(p *kafka.Parked) web.ParkedLister { return p },
		),
		web.Module,
		kafka.Module,
	)
}

func webObserver(m *metrics.Metrics) web.Observer { return m }

func webMetrics(m *metrics.Metrics) prometheus.Gatherer { return m.Registry }

// follow fills the cache from the database before the HTTP port opens, then
// keeps it in step with what every instance stores until the service stops.
func follow(lc fx.Lifecycle, f *postgres.Follower, log *slog.Logger) {
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			start := time.Now()
			n, err := f.Warm(ctx)
			if err != nil {
				return err
			}
			if n > 0 {
				// Warming's working space (the rows as read, the slice they
				// came in) is garbage now: collect it and give its pages
				// back, rather than keep them resident until the heap grows
				// into them.
				debug.FreeOSMemory()
			}
			log.Info("cache warmed", "orders", n, "took", time.Since(start).Round(time.Millisecond))
			f.Start()
			return nil
		},
		OnStop: f.Stop,
	})
}

// gauges export the sizes the modules keep, read at each scrape.
func gauges(m *metrics.Metrics, c *cache.Cache, k *kafka.Consumer) {
	m.Gauge("orders_cache_entries", "Orders held in the in-memory cache.", func() float64 { return float64(c.Len()) })
	m.Gauge("orders_cache_bytes", "Bytes of order JSON held in the in-memory cache (bounded by cache.max_bytes).",
		func() float64 { return float64(c.Bytes()) })
	m.Gauge("orders_consumer_lag", "Messages in owned partitions not yet stored or parked, summed over partitions (partition ends read every 5 s).",
		func() float64 { return float64(k.Lag()) })
}
