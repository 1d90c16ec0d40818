package cache

import (
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/config"
	"github.com/marketplace/orders/modules/metrics"
)

// Module provides *Cache sized by cache.capacity and exports its size as the
// orders_cache_entries gauge.
var Module = fx.Module("cache",
	fx.Provide(func(c config.Config) *Cache { return New(c.Cache.Capacity) }),
	fx.Invoke(func(c *Cache, m *metrics.Metrics) {
		m.Gauge("orders_cache_entries", "Orders held in the in-memory cache.", func() float64 { return float64(c.Len()) })
	}),
)
