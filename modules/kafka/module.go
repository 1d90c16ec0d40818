package kafka

import (
	"context"
	"errors"
	"log/slog"

	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/metrics"
)

// Module provides *Consumer; the app supplies an Ingester. The consumer starts
// last (it is invoked after the web server) and stops first.
var Module = fx.Module("kafka",
	fx.Provide(func(c config.Config, log *slog.Logger, in Ingester, m *metrics.Metrics) *Consumer {
		return NewConsumer(c.Kafka, log.With("component", "consumer"), in, metricsObserver{m})
	}),
	fx.Invoke(func(lc fx.Lifecycle, c *Consumer, m *metrics.Metrics) {
		m.Gauge("orders_consumer_lag", "Messages in owned partitions not yet processed, summed over partitions.",
			func() float64 { return float64(c.Lag()) })
		lc.Append(fx.StartStopHook(c.Start, c.Stop))
	}),
)

type metricsObserver struct{ m *metrics.Metrics }

func (o metricsObserver) Ingested(outcome string, n int) {
	if n > 0 {
		o.m.Ingested.WithLabelValues(outcome).Add(float64(n))
	}
}

// ReadyCheck fails until the consumer has joined its group.
func (c *Consumer) ReadyCheck(context.Context) error {
	if !c.Joined() {
		return errors.New("not joined to consumer group")
	}
	return nil
}
