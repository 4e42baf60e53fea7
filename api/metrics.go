package api

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twimlbin/twimlbin/store"
)

// Outcomes of a bin URL request, the label of twimlbin_bin_requests_total
// and twimlbin_render_duration_seconds.
const (
	outcomeOK        = "ok"        // rendered, no diagnostics
	outcomeWarning   = "warning"   // rendered with warnings (lenient repairs)
	outcomeFailed    = "failed"    // render failed: 500, Twilio's fallback
	outcomeForbidden = "forbidden" // signature missing or wrong
	outcomeNotFound  = "not_found" // no such bin
)

// Store operations timed by twimlbin_store_duration_seconds.
const (
	opAuthenticate = iota
	opBinBySID
	opTwilioToken
	opReadBin // Bin, ListBins, Revisions, Revision, Events
	opReadAccount
	opWriteBin // CreateBin, UpdateBin, DeleteBin, RestoreRevision
	opWriteAccount
	opBackup
	numOps
)

var opNames = [numOps]string{
	opAuthenticate: "authenticate",
	opBinBySID:     "bin_by_sid",
	opTwilioToken:  "twilio_auth_token",
	opReadBin:      "read_bin",
	opReadAccount:  "read_account",
	opWriteBin:     "write_bin",
	opWriteAccount: "write_account",
	opBackup:       "backup",
}

// metrics are the server's Prometheus collectors, in a registry of its own
// (no package-level state).
type metrics struct {
	reg          *prometheus.Registry
	handler      http.Handler // serves reg
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	binRequests  map[string]prometheus.Counter
	renderTime   map[string]prometheus.Observer
	cacheHits    prometheus.Counter
	cacheMisses  prometheus.Counter
	// Bin URL requests served from memory, and those that read the store.
	binCacheHits   prometheus.Counter
	binCacheMisses prometheus.Counter
	storeTime      [numOps]prometheus.Observer
	// routes holds the HTTP metrics of each route template, and of
	// "unmatched"; filled by addRoutes, then only read.
	routes    map[string]*routeMetrics
	unmatched *routeMetrics
}

func newMetrics(db store.Store) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "twimlbin_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "twimlbin_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		routes: map[string]*routeMetrics{},
	}
	binRequests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twimlbin_bin_requests_total",
		Help: "Requests to bin URLs by outcome: ok, warning (rendered with lenient repairs), failed (500 under the strict policy), forbidden (bad signature), not_found.",
	}, []string{"outcome"})
	renderTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "twimlbin_render_duration_seconds",
		Help:    "Time to render a bin's template, by outcome (ok, warning, failed).",
		Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01},
	}, []string{"outcome"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twimlbin_template_cache_requests_total",
		Help: "Lookups of compiled templates by template text, when a bin is read from the store: hit, or miss (the template was compiled).",
	}, []string{"result"})
	binCache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "twimlbin_bin_cache_requests_total",
		Help: "Bin URL requests by how the bin was found: hit (in memory, unchanged since it was read), or miss (read from the store).",
	}, []string{"result"})
	storeTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "twimlbin_store_duration_seconds",
		Help:    "Time of calls into the store, by operation.",
		Buckets: []float64{.000005, .00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
	}, []string{"op"})

	m.binRequests = map[string]prometheus.Counter{}
	for _, o := range []string{outcomeOK, outcomeWarning, outcomeFailed, outcomeForbidden, outcomeNotFound} {
		m.binRequests[o] = binRequests.WithLabelValues(o)
	}
	m.renderTime = map[string]prometheus.Observer{}
	for _, o := range []string{outcomeOK, outcomeWarning, outcomeFailed} {
		m.renderTime[o] = renderTime.WithLabelValues(o)
	}
	m.cacheHits = cache.WithLabelValues("hit")
	m.cacheMisses = cache.WithLabelValues("miss")
	m.binCacheHits = binCache.WithLabelValues("hit")
	m.binCacheMisses = binCache.WithLabelValues("miss")
	for op, name := range opNames {
		m.storeTime[op] = storeTime.WithLabelValues(name)
	}
	m.reg.MustRegister(
		m.httpRequests, m.httpDuration, binRequests, renderTime, cache, binCache, storeTime,
		storeCollector{db},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	m.unmatched = m.newRouteMetrics("unmatched")
	return m
}

// storeCollector reports the store's figures at each scrape.
type storeCollector struct{ db store.Store }

var (
	descAccounts    = prometheus.NewDesc("twimlbin_accounts", "Accounts in the database.", nil, nil)
	descBins        = prometheus.NewDesc("twimlbin_bins", "Bins in the database.", nil, nil)
	descPending     = prometheus.NewDesc("twimlbin_store_pending_writes", "Blocks of usage counters (of up to 128 bins each) and bins' event logs waiting for the next flush.", nil, nil)
	descFlushErrors = prometheus.NewDesc("twimlbin_store_flush_errors_total", "Background flushes of usage counters that failed.", nil, nil)
	descFileSize    = prometheus.NewDesc("twimlbin_store_size_bytes", "Size of the data in the database file.", nil, nil)
	descReadOnly    = prometheus.NewDesc("twimlbin_store_read_only", "1 while the database is open read-only (nothing can be saved), 0 otherwise.", nil, nil)
)

func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descAccounts
	ch <- descBins
	ch <- descPending
	ch <- descFlushErrors
	ch <- descFileSize
	ch <- descReadOnly
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.db.Stats()
	ch <- prometheus.MustNewConstMetric(descAccounts, prometheus.GaugeValue, float64(st.Accounts))
	ch <- prometheus.MustNewConstMetric(descBins, prometheus.GaugeValue, float64(st.Bins))
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.PendingUsageBlocks+st.PendingEventBins))
	ch <- prometheus.MustNewConstMetric(descFlushErrors, prometheus.CounterValue, float64(st.FlushErrors))
	ch <- prometheus.MustNewConstMetric(descFileSize, prometheus.GaugeValue, float64(st.FileSize))
	readOnly := 0.0
	if c.db.ReadOnly() {
		readOnly = 1
	}
	ch <- prometheus.MustNewConstMetric(descReadOnly, prometheus.GaugeValue, readOnly)
}

// addRoutes records the route templates, so that requests that match none
// are labelled "unmatched" rather than by their raw path.
func (m *metrics) addRoutes(routes []*echo.Route) {
	for _, r := range routes {
		if m.routes[r.Path] == nil {
			m.routes[r.Path] = m.newRouteMetrics(r.Path)
		}
	}
}

// route returns the metrics of a route template, those of "unmatched"
// when path is none.
func (m *metrics) route(path string) *routeMetrics {
	if r := m.routes[path]; r != nil {
		return r
	}
	return m.unmatched
}

// routeMetrics are one route's series of twimlbin_http_requests_total and
// twimlbin_http_request_duration_seconds. A request's counter, found by
// its method and status, is kept once looked up: finding it by its labels
// hashes them on every request, which the bin URL's path should not pay.
// The counters kept are a map replaced whole when one is added, so that a
// request reads it without a lock: a read lock's count is a memory write
// that every core serving requests would take turns on.
type routeMetrics struct {
	name     string
	vec      *prometheus.CounterVec
	duration prometheus.Observer

	mu       sync.Mutex                                    // held to add a counter
	requests atomic.Pointer[map[uint32]prometheus.Counter] // by methodIndex<<16 | status
}

func (m *metrics) newRouteMetrics(name string) *routeMetrics {
	r := &routeMetrics{name: name, vec: m.httpRequests, duration: m.httpDuration.WithLabelValues(name)}
	r.requests.Store(&map[uint32]prometheus.Counter{})
	return r
}

// methods are the methods the metrics name; any other is "other".
var methods = [...]string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut, http.MethodHead, http.MethodOptions, "other"}

func methodIndex(method string) uint32 {
	for i, m := range methods[:len(methods)-1] {
		if m == method {
			return uint32(i)
		}
	}
	return uint32(len(methods) - 1)
}

// observe counts a request and records how long it took.
func (r *routeMetrics) observe(method string, status int, d time.Duration) {
	mi := methodIndex(method)
	key := mi<<16 | uint32(status)&0xffff
	c := (*r.requests.Load())[key]
	if c == nil {
		c = r.counter(key, methods[mi], status)
	}
	c.Inc()
	r.duration.Observe(d.Seconds())
}

// counter looks up the counter of a method and status and keeps it.
func (r *routeMetrics) counter(key uint32, method string, status int) prometheus.Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := *r.requests.Load()
	if c := kept[key]; c != nil {
		return c
	}
	c := r.vec.WithLabelValues(r.name, method, strconv.Itoa(status))
	added := maps.Clone(kept)
	added[key] = c
	r.requests.Store(&added)
	return c
}

func (m *metrics) observeStore(op int, start time.Time) {
	m.storeTime[op].Observe(time.Since(start).Seconds())
}

// serveMetrics answers /metrics in Prometheus' text format.
func (s *Server) serveMetrics(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}
