package kafka

import (
	"context"
	"log/slog"

	"go.uber.org/fx"
)

// Module provides *Consumer and *Parked (the DLQ's listing); the app supplies its Config, an Ingester and an
// Observer. The consumer starts last (it is invoked after the web server) and
// stops first.
var Module = fx.Module("kafka",
	fx.Provide(func(cfg Config, log *slog.Logger, in Ingester, obs Observer) *Consumer {
		return NewConsumer(cfg, log.With("component", "consumer"), in, obs)
	}),
	fx.Provide(func(lc fx.Lifecycle, cfg Config) *Parked {
		p := NewParked(cfg)
		lc.Append(fx.StopHook(p.Close))
		return p
	}),
	fx.Invoke(func(lc fx.Lifecycle, c *Consumer) {
		lc.Append(fx.StartStopHook(c.Start, c.Stop))
	}),
)

// ReadyCheck is Ready, for the web module's readiness checks.
func (c *Consumer) ReadyCheck(context.Context) error { return c.Ready() }
