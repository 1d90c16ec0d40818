// Package metrics holds the service's Prometheus registry and the collectors
// the contract names. Counters are created with every label value up front so
// they read 0 before the first event.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"

	"github.com/marketplace/orders/modules/order"
)

// Module provides *Metrics.
var Module = fx.Module("metrics", fx.Provide(New))

// Metrics is the registry and the service's own collectors.
type Metrics struct {
	Registry      *prometheus.Registry
	IngestedTotal *prometheus.CounterVec
	CacheHits     prometheus.Counter
	CacheMisses   prometheus.Counter
}

// New registers the collectors on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		IngestedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orders_ingested_total",
			Help: "Orders consumed from Kafka, by outcome: stored, duplicate, invalid (decode or validation), conflict.",
		}, []string{"outcome"}),
		CacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_cache_hits_total",
			Help: "Order reads (API or page) answered from the cache.",
		}),
		CacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orders_cache_misses_total",
			Help: "Order reads (API or page) that went to the database.",
		}),
	}
	for _, o := range order.Outcomes {
		m.IngestedTotal.WithLabelValues(o.String())
	}
	m.Registry.MustRegister(m.IngestedTotal, m.CacheHits, m.CacheMisses,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Gauge registers a gauge whose value is read from f at each scrape.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// Ingested counts n messages of one outcome; it is the consumer's observer.
func (m *Metrics) Ingested(outcome order.Outcome, n int) {
	if n > 0 {
		m.IngestedTotal.WithLabelValues(outcome.String()).Add(float64(n))
	}
}

// Lookup counts one read of an order as a cache hit or a miss.
func (m *Metrics) Lookup(hit bool) {
	if hit {
		m.CacheHits.Inc()
	} else {
		m.CacheMisses.Inc()
	}
}
