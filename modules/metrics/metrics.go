// Package metrics holds the service's Prometheus registry and the collectors
// the contract names. Counters are created with every label value up front so
// they read 0 before the first event.
package metrics

import (
	"time"

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
	IngestDelays  prometheus.Histogram
	FollowDelays  prometheus.Histogram
}

// freshness are the buckets of both delay histograms, in seconds: from a few
// milliseconds (a steady flow) to minutes (a backlog or an outage).
var freshness = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

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
		IngestDelays: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orders_ingest_delay_seconds",
			Help:    "From an order's Kafka record timestamp to its being durably stored, per stored order.",
			Buckets: freshness,
		}),
		FollowDelays: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orders_cache_follow_delay_seconds",
			Help:    "From another instance storing an order (its notification, just before commit) to its being cached here.",
			Buckets: freshness,
		}),
	}
	for _, o := range order.Outcomes {
		m.IngestedTotal.WithLabelValues(o.String())
	}
	m.Registry.MustRegister(m.IngestedTotal, m.CacheHits, m.CacheMisses, m.IngestDelays, m.FollowDelays,
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

// IngestDelay observes how long after its Kafka record an order was stored.
func (m *Metrics) IngestDelay(d time.Duration) { m.IngestDelays.Observe(d.Seconds()) }

// Followed observes how long after another instance stored an order it was
// cached here.
func (m *Metrics) Followed(d time.Duration) { m.FollowDelays.Observe(max(d, 0).Seconds()) }
