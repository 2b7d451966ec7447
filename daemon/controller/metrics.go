package controller

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dist/core/api"
)

// serverMetrics are the controller's own figures: how its API, store, watches and origin leases
// behave. Every label comes from a bounded set (route patterns, status classes, store operations,
// wake causes, lease outcomes, origin keys): never a host name or an id, so a fleet of thousands
// costs the same series as a fleet of three.
type serverMetrics struct {
	requests  *prometheus.HistogramVec // route, code
	respBytes *prometheus.HistogramVec // route
	storeOps  *prometheus.HistogramVec // op
	wakeups   *prometheus.CounterVec   // cause
	watchSize prometheus.Histogram
	leases    *prometheus.CounterVec // origin, outcome

	series sync.Map // routeClass → routeObservers (observers)
}

// Watch wake causes and lease outcomes, as label values.
const (
	wakeImmediate = "immediate" // the caller was behind: answered at once
	wakeChange    = "change"    // a change closed the held watch
	wakeTimeout   = "timeout"   // the poll timeout passed with nothing new

	leaseGranted = "granted"
	leaseWaiting = "waiting" // in line for a share of the origin
	leaseDenied  = "denied"  // the byte budget is spent, or leases are paused after a restart
)

func newServerMetrics() *serverMetrics {
	return &serverMetrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dist_controller_http_request_duration_seconds",
			Help: "Controller API answer time by route pattern and status class (2xx, 4xx, 5xx); watches include the time held.",
			// From a cached metainfo to a watch held for its whole poll timeout.
			Buckets: prometheus.ExponentialBucketsRange(0.0005, 60, 16),
		}, []string{"route", "code"}),
		respBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dist_controller_http_response_size_bytes",
			Help:    "Controller API answer body size by route pattern.",
			Buckets: prometheus.ExponentialBuckets(64, 4, 10),
		}, []string{"route"}),
		storeOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dist_controller_store_duration_seconds",
			Help:    "Time of one store call (one transaction) by operation.",
			Buckets: prometheus.ExponentialBucketsRange(0.00005, 5, 16),
		}, []string{"op"}),
		wakeups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dist_controller_watch_wakeups_total",
			Help: "Watch answers by what woke them: immediate (the host was behind), change, timeout.",
		}, []string{"cause"}),
		watchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dist_controller_watch_answer_tasks",
			Help:    "Tasks in one watch answer.",
			Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128},
		}),
		leases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dist_controller_lease_requests_total",
			Help: "Origin lease requests by origin and outcome: granted, waiting (in line for a share), denied (budget spent or leases paused).",
		}, []string{"origin", "outcome"}),
	}
}

// Collector answers the controller's figures for a Prometheus registry: its API, store, watch and
// lease histograms and counters, and, read when scraped, the load of each origin against its caps
// and the reports and peers asks being served.
func (s *Server) Collector() prometheus.Collector { return serverCollector{s} }

type serverCollector struct{ s *Server }

var (
	descInFlight = prometheus.NewDesc("dist_controller_requests_in_flight",
		"Reports and peers asks being served; at --max-in-flight more are answered 429.", []string{"queue"}, nil)
	descInFlightCap = prometheus.NewDesc("dist_controller_requests_in_flight_max",
		"The bound on reports, and apart on peers asks, served at once.", []string{"queue"}, nil)
	descOriginConns = prometheus.NewDesc("dist_controller_origin_conns",
		"Origin connections held by live leases.", []string{"origin"}, nil)
	descOriginConnsCap = prometheus.NewDesc("dist_controller_origin_conns_cap",
		"Origin connections all leases may hold now (after back-off); 0 means unlimited.", []string{"origin"}, nil)
	descOriginRate = prometheus.NewDesc("dist_controller_origin_rate_bytes",
		"Bytes/s held by live leases with a rate cap.", []string{"origin"}, nil)
	descOriginRateCap = prometheus.NewDesc("dist_controller_origin_rate_cap_bytes",
		"Bytes/s all leases may hold now (after back-off); 0 means unlimited.", []string{"origin"}, nil)
	descOriginSpent = prometheus.NewDesc("dist_controller_origin_window_spent_bytes",
		"Bytes used from the origin in the current budget window.", []string{"origin"}, nil)
	descOriginBudget = prometheus.NewDesc("dist_controller_origin_window_budget_bytes",
		"The origin's byte budget per window; 0 means unlimited.", []string{"origin"}, nil)
	descOriginLeft = prometheus.NewDesc("dist_controller_origin_window_left_bytes",
		"Bytes of the window's budget neither used nor granted; absent when the origin has no budget.", []string{"origin"}, nil)
	descOriginWaiting = prometheus.NewDesc("dist_controller_origin_waiting",
		"Holders waiting for a share of the origin.", []string{"origin"}, nil)
	descOriginLeases = prometheus.NewDesc("dist_controller_origin_leases",
		"Live leases of the origin.", []string{"origin"}, nil)
)

func (c serverCollector) metrics() []prometheus.Collector {
	m := c.s.metrics
	return []prometheus.Collector{m.requests, m.respBytes, m.storeOps, m.wakeups, m.watchSize, m.leases}
}

func (c serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range c.metrics() {
		x.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{descInFlight, descInFlightCap, descOriginConns, descOriginConnsCap,
		descOriginRate, descOriginRateCap, descOriginSpent, descOriginBudget, descOriginLeft, descOriginWaiting, descOriginLeases} {
		ch <- d
	}
}

func (c serverCollector) Collect(ch chan<- prometheus.Metric) {
	for _, x := range c.metrics() {
		x.Collect(ch)
	}
	s := c.s
	for q, sem := range map[string]chan struct{}{"report": s.reporting, "peers": s.asking} {
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(len(sem)), q)
		ch <- prometheus.MustNewConstMetric(descInFlightCap, prometheus.GaugeValue, float64(cap(sem)), q)
	}
	now := s.now()
	o := s.origins
	o.mu.Lock()
	defer o.mu.Unlock()
	// Origins not loaded yet have had no lease since the start: nothing to show until the first.
	for _, e := range o.byKey {
		st := e.alloc.State(now)
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, e.key)
		}
		g(descOriginConns, float64(st.Conns))
		g(descOriginConnsCap, float64(st.ConnsCap))
		g(descOriginRate, float64(st.Rate))
		g(descOriginRateCap, float64(st.RateCap))
		g(descOriginSpent, float64(st.Spent))
		g(descOriginBudget, float64(st.Limits.MaxBytes))
		if st.Limits.MaxBytes > 0 {
			g(descOriginLeft, float64(max(st.Limits.MaxBytes-st.Spent-st.Outstanding, 0)))
		}
		g(descOriginWaiting, float64(len(st.Waiting)))
		g(descOriginLeases, float64(len(st.Leases)))
	}
}

// instrument times every answer of h by the route pattern that served it. The pattern is read
// after h returns: ServeMux sets it on the request it routes.
func (m *serverMetrics) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		status := cw.status
		if status == 0 {
			status = http.StatusOK
		}
		o := m.observers(route, status/100)
		o.dur.Observe(time.Since(start).Seconds())
		o.size.Observe(float64(cw.n))
	})
}

// routeClass names the series of one route and status class.
type routeClass struct {
	route string
	class int
}

// routeObservers are the series of one routeClass.
type routeObservers struct{ dur, size prometheus.Observer }

// observers answers the series of route and status class, looked up once: every request of a
// fleet records two, and finding them by their label values each time allocated and hashed.
func (m *serverMetrics) observers(route string, class int) routeObservers {
	k := routeClass{route, class}
	if o, ok := m.series.Load(k); ok {
		return o.(routeObservers)
	}
	o := routeObservers{m.requests.WithLabelValues(route, strconv.Itoa(class)+"xx"), m.respBytes.WithLabelValues(route)}
	m.series.Store(k, o)
	return o
}

// watchAnswered counts one watch answer and its size.
func (m *serverMetrics) watchAnswered(cause string, tasks int) {
	m.wakeups.WithLabelValues(cause).Inc()
	m.watchSize.Observe(float64(tasks))
}

// leaseAnswered counts one lease request of the origin e. A refusal is "denied" when no share can
// come before the window turns or the pause after a restart ends, "waiting" otherwise.
func (m *serverMetrics) leaseAnswered(e *originEntry, now time.Time, granted bool) {
	outcome := leaseGranted
	if !granted {
		outcome = leaseWaiting
		st := e.alloc.State(now)
		if now.Before(st.QuietUntil) || (st.Limits.MaxBytes > 0 && st.Spent >= st.Limits.MaxBytes) {
			outcome = leaseDenied
		}
	}
	m.leases.WithLabelValues(e.key, outcome).Inc()
}

// countingWriter records the status and body size of an answer.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Flush passes through: the events stream and relayed files flush as they go.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (deadlines, hijack).
func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// RequireAdmin serves h only to a request carrying token as its bearer token (compared as the API
// compares it); others get 401. An empty token refuses everyone: the admin credential is not set.
func RequireAdmin(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := bearer(r); ok && tokenMatches(tok, token) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="dist"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(api.Error{Error: "missing or bad admin token: present the daemon's --admin-token as a bearer token",
			Code: api.CodeUnauthorized})
	})
}
