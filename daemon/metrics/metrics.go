// Package metrics answers GET /metrics with a daemon's figures in the Prometheus text format,
// through a client_golang registry of its own (one per daemon, so that several daemons in one
// process keep apart), and serves /debug/pprof/ to the admin credential (pprof.go).
//
// Read when scraped, with the names they have always had: dist_up; per task (labels dist, role;
// gone when the task ends) dist_task_bytes_total{source}, dist_task_bytes_up_total,
// dist_task_have_bytes, dist_task_pieces_verified, dist_task_pieces,
// dist_task_pieces_failed_total, dist_task_peers, dist_task_failed, dist_task_assist_mode{mode},
// dist_task_assist_switches; dist_tasks{role,state}; per origin lease dist_origin_lease{phase},
// dist_origin_lease_conns, dist_origin_requests_in_flight, dist_origin_bytes_total; on a
// controller dist_controller_distributions{state}, dist_controller_assignments{role,state},
// dist_controller_hosts{online}, dist_controller_bytes{source}. No name was renamed.
//
// Added, over tasks and without per-task labels: dist_host_bytes_total{source},
// dist_host_bytes_up_total, dist_host_pieces_failed_total, dist_host_assist_mode_changes_total
// {from,to}, and the histograms dist_task_first_byte_seconds{role} and
// dist_task_complete_seconds{role} (from when the daemon took the task up: a sampler looks at the
// tasks every SampleEvery), and dist_host_piece_fetch_seconds{source} (pieces over HTTP: the
// assist, the relay's stripes, other clients before the metainfo; told by the fetchers through
// task.Env.PieceTime). The controller adds its own (controller/metrics.go):
// dist_controller_http_request_duration_seconds{route,code},
// dist_controller_http_response_size_bytes{route}, dist_controller_store_duration_seconds{op},
// dist_controller_watch_wakeups_total{cause}, dist_controller_watch_answer_tasks,
// dist_controller_lease_requests_total{origin,outcome}, dist_controller_requests_in_flight{queue}
// and dist_controller_origin_* (load of each origin against its caps). The Go runtime and process
// collectors add go_* and process_*. dashboard.json is a Grafana dashboard over these names.
package metrics

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"dist/core/api"
	"dist/core/hybrid"
	"dist/core/lease"
	"dist/daemon/controller"
)

// Dashboard is the Grafana dashboard over this package's metrics (dashboard.json), for packages
// to install and operators to import.
//
//go:embed dashboard.json
var Dashboard []byte

// SampleEvery is how often Run looks at the tasks. The time to first byte and to completion count
// from Task.TakenMs; without it, from the first look that saw the task (within this of it).
const SampleEvery = 250 * time.Millisecond

// Task is one task's figures.
type Task struct {
	Report         api.TaskReport
	Role           api.Role
	Dist           string
	Pieces, PieceN int
	Bad            int64 // pieces that failed their hash (BitTorrent and HTTP)
	TakenMs        int64 // unix ms when the daemon took the task up; 0: unknown (the first look counts)
}

// Source is where the figures come from.
type Source struct {
	Host       string
	Roles      []api.Role
	Tasks      func() []Task
	Leases     func() []lease.State
	Controller *controller.Server // nil unless the daemon holds the controller role
	Logger     *slog.Logger       // nil: errors of a scrape are only answered
	Now        func() time.Time   // nil: time.Now
}

// Metrics is one daemon's registry and the sampler that feeds its counters over tasks.
type Metrics struct {
	src     Source
	reg     *prometheus.Registry
	handler http.Handler
	host    *hostStats
}

// New builds the registry of the daemon that src describes.
func New(src Source) *Metrics {
	if src.Now == nil {
		src.Now = time.Now
	}
	m := &Metrics{src: src, reg: prometheus.NewRegistry(), host: newHostStats(src)}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.host,
	)
	if src.Controller != nil {
		m.reg.MustRegister(src.Controller.Collector())
	}
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}
	if src.Logger != nil {
		opts.ErrorLog = slogPrinter{src.Logger}
	}
	m.handler = promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, opts))
	return m
}

// Handler answers GET /metrics for src; without Run, the counters over tasks are fed only when
// scraped.
func Handler(src Source) http.HandlerFunc { return New(src).ServeHTTP }

// ServeHTTP answers GET /metrics.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// pieceSources are the sources PieceFetched takes; any other counts as the first.
var pieceSources = []string{api.SourceHTTPRelay, api.SourceHTTPOrigin, api.SourceHTTPPeer, api.SourceBT}

// PieceFetched observes one piece fetched from source in took (task.Env.PieceTime).
func (m *Metrics) PieceFetched(source string, took time.Duration) {
	if !slices.Contains(pieceSources, source) {
		source = pieceSources[0]
	}
	m.host.pieces.WithLabelValues(source).Observe(took.Seconds())
}

// Registry is the daemon's registry, for tests and embedders that gather in process.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Run looks at the tasks every SampleEvery until ctx ends, so that the counters over tasks see a
// task that ends between two scrapes, and its times are measured from when it was taken up.
func (m *Metrics) Run(ctx context.Context) {
	tick := time.NewTicker(SampleEvery)
	defer tick.Stop()
	for {
		m.host.sync()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics scrape failed", "err", fmt.Sprint(v...)) }

// Descriptions of the figures read when scraped.
var (
	descUp = prometheus.NewDesc("dist_up", "1 while the daemon runs.", []string{"host", "roles"}, nil)

	taskLabels      = []string{"dist", "role"}
	descTaskBytes   = prometheus.NewDesc("dist_task_bytes_total", "Bytes received by a task, by source (bt, http-relay, http-origin).", append(taskLabels, "source"), nil)
	descTaskUp      = prometheus.NewDesc("dist_task_bytes_up_total", "Bytes a task sent to peers, over BitTorrent and HTTP.", taskLabels, nil)
	descTaskHave    = prometheus.NewDesc("dist_task_have_bytes", "Bytes a task holds, verified.", taskLabels, nil)
	descTaskPieces  = prometheus.NewDesc("dist_task_pieces_verified", "Pieces a task holds, verified.", taskLabels, nil)
	descTaskPieceN  = prometheus.NewDesc("dist_task_pieces", "Pieces of a task's file.", taskLabels, nil)
	descTaskBad     = prometheus.NewDesc("dist_task_pieces_failed_total", "Pieces received (over BitTorrent or HTTP) that failed their hash and were discarded.", taskLabels, nil)
	descTaskPeers   = prometheus.NewDesc("dist_task_peers", "Connected BitTorrent peers of a task.", taskLabels, nil)
	descTaskFailed  = prometheus.NewDesc("dist_task_failed", "1 when a task gave up.", taskLabels, nil)
	descTaskMode    = prometheus.NewDesc("dist_task_assist_mode", "The hybrid mode of a client task (bt, assisting, http-main): 1 for the current one.", append(taskLabels, "mode"), nil)
	descTaskSwitch  = prometheus.NewDesc("dist_task_assist_switches", "Hybrid mode changes of a client task still in its report.", taskLabels, nil)
	descTasks       = prometheus.NewDesc("dist_tasks", "Tasks of this host by role and state; pending and waiting ones are its queue.", []string{"role", "state"}, nil)
	descLease       = prometheus.NewDesc("dist_origin_lease", "1 for the phase of this host's origin lease (leased, waiting, idle).", []string{"origin", "phase"}, nil)
	descLeaseConns  = prometheus.NewDesc("dist_origin_lease_conns", "Connections granted by the origin lease.", []string{"origin"}, nil)
	descLeaseInUse  = prometheus.NewDesc("dist_origin_requests_in_flight", "Origin requests in flight under the lease.", []string{"origin"}, nil)
	descLeaseBytes  = prometheus.NewDesc("dist_origin_bytes_total", "Bytes admitted from the origin.", []string{"origin"}, nil)
	descCtlDists    = prometheus.NewDesc("dist_controller_distributions", "Distributions by state.", []string{"state"}, nil)
	descCtlAssigns  = prometheus.NewDesc("dist_controller_assignments", "Assignments of live distributions by role and state; pending ones are the delivery queue.", []string{"role", "state"}, nil)
	descCtlHosts    = prometheus.NewDesc("dist_controller_hosts", "Hosts known to the controller.", []string{"online"}, nil)
	descCtlBytes    = prometheus.NewDesc("dist_controller_bytes", "Bytes received by clients of live distributions, by source.", []string{"source"}, nil)
	descCtlStatsErr = prometheus.NewDesc("dist_controller_stats", "The controller's figures could not be read.", nil, nil)
)

// hostStats is the daemon's collector: the figures read when scraped, and the counters and
// histograms over its tasks, fed by sync from one look at the tasks to the next.
type hostStats struct {
	src Source

	mu    sync.Mutex
	tasks map[string]*taskSeen // by task id

	bytes       *prometheus.CounterVec // source
	bytesUp     prometheus.Counter
	bad         prometheus.Counter
	modes       *prometheus.CounterVec   // from, to
	firstByte   *prometheus.HistogramVec // role
	completions *prometheus.HistogramVec // role
	pieces      *prometheus.HistogramVec // source: pieces fetched over HTTP
}

// taskSeen is what the last look saw of one task.
type taskSeen struct {
	seenMs              int64 // when a look first saw the task
	bytes               [3]int64
	up, bad             int64
	lastModeMs          int64
	firstDone, doneDone bool // its times are observed (or were before the first look)
}

func newHostStats(src Source) *hostStats {
	// From a second on loopback to a day over a thin link.
	times := prometheus.ExponentialBucketsRange(0.05, 86400, 20)
	h := &hostStats{src: src, tasks: map[string]*taskSeen{},
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dist_host_bytes_total",
			Help: "Bytes this host's tasks received since the daemon started, by source (bt, http-relay, http-origin)."}, []string{"source"}),
		bytesUp: prometheus.NewCounter(prometheus.CounterOpts{Name: "dist_host_bytes_up_total",
			Help: "Bytes this host's tasks sent to peers since the daemon started."}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{Name: "dist_host_pieces_failed_total",
			Help: "Pieces this host received that failed their hash (verification failures) since the daemon started."}),
		modes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dist_host_assist_mode_changes_total",
			Help: "Hybrid mode changes of this host's client tasks, by mode left and mode entered."}, []string{"from", "to"}),
		firstByte: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dist_task_first_byte_seconds",
			Help: "Time from when the daemon took a task up to its first byte, over tasks.", Buckets: times}, []string{"role"}),
		completions: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dist_task_complete_seconds",
			Help: "Time from when the daemon took a task up to its file in place and verified, over tasks.", Buckets: times}, []string{"role"}),
	}
	h.pieces = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dist_host_piece_fetch_seconds",
		Help:    "Time to fetch one piece over HTTP, by source (http-relay, http-origin: the assist and the relay's stripes; http-peer: another client before the metainfo). BitTorrent's pieces are not timed one by one: its rate is in dist_host_bytes_total.",
		Buckets: prometheus.ExponentialBucketsRange(0.001, 120, 16)}, []string{"source"})
	for _, src := range pieceSources {
		h.pieces.WithLabelValues(src)
	}
	// Series at zero from the start, so that rates and dashboards see them before the first task.
	for _, src := range []string{api.SourceBT, api.SourceHTTPRelay, api.SourceHTTPOrigin} {
		h.bytes.WithLabelValues(src)
	}
	for _, r := range src.Roles {
		if r == api.RoleClient || r == api.RoleRelay {
			h.firstByte.WithLabelValues(string(r))
			h.completions.WithLabelValues(string(r))
		}
	}
	return h
}

// Describe sends nothing: the collector is unchecked, its per-task series come and go.
func (h *hostStats) Describe(chan<- *prometheus.Desc) {}

// Collect takes a fresh look at the tasks, then answers every figure of the daemon.
func (h *hostStats) Collect(ch chan<- prometheus.Metric) {
	rows := h.sync()
	for _, c := range []prometheus.Collector{h.bytes, h.bytesUp, h.bad, h.modes, h.firstByte, h.completions, h.pieces} {
		c.Collect(ch)
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1, h.src.Host, strings.Join(api.RoleNames(h.src.Roles), ","))
	taskMetrics(ch, rows)
	if h.src.Leases != nil {
		leaseMetrics(ch, h.src.Leases())
	}
	if h.src.Controller != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := h.src.Controller.Stats(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descCtlStatsErr, err)
			return
		}
		controllerMetrics(ch, st)
	}
}

// modeName keeps the mode labels to the known modes.
func modeName(m string) string {
	switch m {
	case hybrid.ModeBT, hybrid.ModeAssist, hybrid.ModeHTTPMain, hybrid.ModeExchange:
		return m
	}
	return "other"
}

// sync looks at the tasks once: it adds what each received, sent and discarded since the last look
// to the counters, counts new mode changes, and observes the times of tasks that just got their
// first byte or finished. Answers the rows it looked at.
func (h *hostStats) sync() []Task {
	if h.src.Tasks == nil {
		return nil
	}
	// Looked at under the lock: two looks applied out of order would count growth twice.
	h.mu.Lock()
	defer h.mu.Unlock()
	rows := h.src.Tasks()
	nowMs := h.src.Now().UnixMilli()
	live := make(map[string]bool, len(rows))
	for _, r := range rows {
		rep := r.Report
		live[rep.ID] = true
		t := h.tasks[rep.ID]
		if t == nil {
			// A first byte or an end well before this first look belongs to a task taken up
			// before the daemon could see it (a restart): its times are not known.
			late, seen := nowMs-4*SampleEvery.Milliseconds(), nowMs
			if r.TakenMs > 0 { // known exactly: times count from it
				late, seen = r.TakenMs, r.TakenMs
			}
			t = &taskSeen{seenMs: seen,
				firstDone: rep.FirstByteMs != 0 && rep.FirstByteMs < late,
				doneDone:  rep.DoneMs != 0 && rep.DoneMs < late}
			h.tasks[rep.ID] = t
		}
		for i, src := range []struct {
			name string
			n    int64
		}{{api.SourceBT, rep.BytesBT}, {api.SourceHTTPRelay, rep.BytesHTTPRelay}, {api.SourceHTTPOrigin, rep.BytesHTTPOrigin}} {
			h.bytes.WithLabelValues(src.name).Add(float64(grown(&t.bytes[i], src.n)))
		}
		h.bytesUp.Add(float64(grown(&t.up, rep.BytesUp)))
		h.bad.Add(float64(grown(&t.bad, r.Bad)))
		last := t.lastModeMs
		for _, mc := range rep.ModeChanges {
			if mc.AtMs > last {
				h.modes.WithLabelValues(modeName(mc.From), modeName(mc.To)).Inc()
				t.lastModeMs = max(t.lastModeMs, mc.AtMs)
			}
		}
		role := string(r.Role)
		if !t.firstDone && rep.FirstByteMs != 0 {
			t.firstDone = true
			h.firstByte.WithLabelValues(role).Observe(float64(max(rep.FirstByteMs-t.seenMs, 0)) / 1000)
		}
		if !t.doneDone && rep.DoneMs != 0 {
			t.doneDone = true
			h.completions.WithLabelValues(role).Observe(float64(max(rep.DoneMs-t.seenMs, 0)) / 1000)
		}
	}
	for id := range h.tasks {
		if !live[id] {
			delete(h.tasks, id)
		}
	}
	return rows
}

// grown answers how much a task counter grew since *last and keeps the new value. A counter that
// went down (the task started over) grew by nothing.
func grown(last *int64, now int64) int64 {
	d := now - *last
	*last = now
	return max(d, 0)
}

// taskMetrics answers the figures of the daemon's tasks. A second task of one distribution and
// role (not expected) is left out: two series of one label set would spoil the whole scrape.
func taskMetrics(ch chan<- prometheus.Metric, rows []Task) {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b Task) int { return cmp.Compare(a.Report.ID, b.Report.ID) })
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	c := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	queue := map[[2]string]int{}
	seen := map[[2]string]bool{}
	for _, r := range rows {
		queue[[2]string{string(r.Role), string(r.Report.State)}]++
		k := [2]string{r.Dist, string(r.Role)}
		if seen[k] {
			continue
		}
		seen[k] = true
		dist, role := r.Dist, string(r.Role)
		c(descTaskBytes, float64(r.Report.BytesBT), dist, role, api.SourceBT)
		c(descTaskBytes, float64(r.Report.BytesHTTPRelay), dist, role, api.SourceHTTPRelay)
		c(descTaskBytes, float64(r.Report.BytesHTTPOrigin), dist, role, api.SourceHTTPOrigin)
		c(descTaskUp, float64(r.Report.BytesUp), dist, role)
		g(descTaskHave, float64(r.Report.Have), dist, role)
		g(descTaskPieces, float64(r.Pieces), dist, role)
		g(descTaskPieceN, float64(r.PieceN), dist, role)
		c(descTaskBad, float64(r.Bad), dist, role)
		g(descTaskPeers, float64(r.Report.Peers), dist, role)
		failed := 0.0
		if r.Report.State == api.TaskFailed {
			failed = 1
		}
		g(descTaskFailed, failed, dist, role)
		if r.Report.Mode != "" {
			g(descTaskMode, 1, dist, role, r.Report.Mode)
			g(descTaskSwitch, float64(len(r.Report.ModeChanges)), dist, role)
		}
	}
	for k, n := range queue {
		g(descTasks, float64(n), k[0], k[1])
	}
}

// leaseMetrics answers the state of the daemon's origin leases.
func leaseMetrics(ch chan<- prometheus.Metric, states []lease.State) {
	seen := map[string]bool{}
	for _, s := range states {
		if seen[s.Origin] {
			continue
		}
		seen[s.Origin] = true
		ch <- prometheus.MustNewConstMetric(descLease, prometheus.GaugeValue, 1, s.Origin, s.Phase)
		ch <- prometheus.MustNewConstMetric(descLeaseConns, prometheus.GaugeValue, float64(s.Lease.Conns), s.Origin)
		ch <- prometheus.MustNewConstMetric(descLeaseInUse, prometheus.GaugeValue, float64(s.InUse), s.Origin)
		ch <- prometheus.MustNewConstMetric(descLeaseBytes, prometheus.CounterValue, float64(s.Bytes), s.Origin)
	}
}

// controllerMetrics answers what the controller keeps.
func controllerMetrics(ch chan<- prometheus.Metric, st controller.Stats) {
	g := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	for _, x := range st.Distributions {
		g(descCtlDists, float64(x.N), x.Key)
	}
	for _, x := range st.Assignments {
		role, state, _ := strings.Cut(x.Key, "/")
		g(descCtlAssigns, float64(x.N), role, state)
	}
	g(descCtlHosts, float64(st.Hosts), "false")
	g(descCtlHosts, float64(st.Online), "true")
	for _, x := range st.Bytes {
		g(descCtlBytes, float64(x.N), x.Key)
	}
}
