// Package metrics exposes Ward's operational numbers to Prometheus: client
// API requests (count and latency per route template, method and status),
// waiting /sync requests and the database pools. Everything lives in the
// registry a Metrics owns, never in Prometheus's global one, so that two
// servers in one process (as in tests) do not share counters.
//
// Labels are route templates such as /_matrix/client/v3/rooms/{roomId}/send/…,
// never concrete paths, user IDs or anything a client chose: a label value
// must not identify a person, and the number of series must stay bounded.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are the live numbers the metrics read when scraped. A nil field
// leaves its metrics out.
type Sources struct {
	// SyncWaiting reports how many /sync requests are waiting for news.
	SyncWaiting func() int
	// DBStats reports the writer and reader pool statistics.
	DBStats func() (write, read sql.DBStats)
}

// Metrics is one server's set of metrics.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New builds the metrics over src in a registry of their own.
func New(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_http_requests_total",
			Help: "Client API requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ward_http_request_duration_seconds",
			Help: "Time to answer client API requests, by route template, method and status. Long-polling /sync waits count in.",
			// Up to 60 s: a long-polling /sync waits up to its timeout.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method", "status"}),
	}
	reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if src.SyncWaiting != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ward_sync_waiting",
			Help: "Long-polling /sync requests currently waiting for news.",
		}, func() float64 { return float64(src.SyncWaiting()) }))
	}
	if src.DBStats != nil {
		reg.MustRegister(newDBCollector(src.DBStats))
	}
	return m
}

// Observe records one answered request. Its signature is the one
// clientapi.API.Observe takes.
func (m *Metrics) Observe(route, method string, status int, seconds float64) {
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, s).Inc()
	m.latency.WithLabelValues(route, method, s).Observe(seconds)
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, "/metrics", http.StatusFound)
	})
	return mux
}

// dbCollector reads the pool statistics at scrape time.
type dbCollector struct {
	stats                                       func() (write, read sql.DBStats)
	maxOpen, open, inUse, idle                  *prometheus.Desc
	waitCount, waitSeconds, closedIdle, closedL *prometheus.Desc
}

func newDBCollector(stats func() (write, read sql.DBStats)) *dbCollector {
	pool := []string{"pool"}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("ward_db_"+name, help, pool, nil)
	}
	return &dbCollector{
		stats:       stats,
		maxOpen:     d("max_open_connections", "Most connections the pool may open (pool is writer or reader; the same pool on PostgreSQL)."),
		open:        d("open_connections", "Connections open, in use or idle."),
		inUse:       d("in_use_connections", "Connections in use."),
		idle:        d("idle_connections", "Idle connections."),
		waitCount:   d("wait_count_total", "Times a caller waited for a free connection."),
		waitSeconds: d("wait_duration_seconds_total", "Time callers spent waiting for a free connection."),
		closedIdle:  d("closed_max_idle_total", "Connections closed because too many were idle."),
		closedL:     d("closed_max_lifetime_total", "Connections closed because they reached their lifetime."),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waitCount, c.waitSeconds, c.closedIdle, c.closedL} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	write, read := c.stats()
	for _, p := range []struct {
		name string
		s    sql.DBStats
	}{{"writer", write}, {"reader", read}} {
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, p.name)
		}
		n := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, p.name)
		}
		g(c.maxOpen, float64(p.s.MaxOpenConnections))
		g(c.open, float64(p.s.OpenConnections))
		g(c.inUse, float64(p.s.InUse))
		g(c.idle, float64(p.s.Idle))
		n(c.waitCount, float64(p.s.WaitCount))
		n(c.waitSeconds, p.s.WaitDuration.Seconds())
		n(c.closedIdle, float64(p.s.MaxIdleClosed))
		n(c.closedL, float64(p.s.MaxLifetimeClosed))
	}
}
