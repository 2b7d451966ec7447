// Package metrics answers GET /metrics with a daemon's figures in the Prometheus text format:
// bytes by source, pieces, peers, hybrid mode, origin leases and queues of its tasks, and on a
// controller the distributions, assignments and hosts it keeps. Values are read when scraped.
package metrics

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"dist/core/api"
	"dist/core/lease"
	"dist/daemon/controller"
)

// metric is one sample of the Prometheus text exposition format.
type metric struct {
	name   string
	labels [][2]string
	value  float64
}

// family is the samples of one metric name with its help and type.
type family struct {
	name, help, kind string
	samples          []metric
}

// metricSet gathers families in the order they are first used.
type metricSet struct {
	order []string
	fams  map[string]*family
}

func (m *metricSet) add(name, kind, help string, v float64, labels ...string) {
	if m.fams == nil {
		m.fams = map[string]*family{}
	}
	f := m.fams[name]
	if f == nil {
		f = &family{name: name, help: help, kind: kind}
		m.fams[name] = f
		m.order = append(m.order, name)
	}
	s := metric{name: name, value: v}
	for i := 0; i+1 < len(labels); i += 2 {
		s.labels = append(s.labels, [2]string{labels[i], labels[i+1]})
	}
	f.samples = append(f.samples, s)
}

// write renders the set in the text exposition format, version 0.0.4.
func (m *metricSet) write(w io.Writer) error {
	var b strings.Builder
	for _, name := range m.order {
		f := m.fams[name]
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.kind)
		for _, s := range f.samples {
			b.WriteString(s.name)
			if len(s.labels) > 0 {
				b.WriteByte('{')
				for i, l := range s.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%s=\"%s\"", l[0], escapeLabel(l[1]))
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(strconv.FormatFloat(s.value, 'g', -1, 64))
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s)
}

// Task is one task's figures.
type Task struct {
	Report         api.TaskReport
	Role           api.Role
	Dist           string
	Pieces, PieceN int
	Bad            int64 // pieces that failed their hash (BitTorrent and HTTP)
}

// Source is where the figures come from.
type Source struct {
	Host       string
	Roles      []api.Role
	Tasks      func() []Task
	Leases     func() []lease.State
	Controller *controller.Server // nil unless the daemon holds the controller role
}

// Handler answers GET /metrics.
func Handler(s Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var m metricSet
		m.add("dist_up", "gauge", "1 while the daemon runs.", 1, "host", s.Host, "roles", strings.Join(api.RoleNames(s.Roles), ","))
		taskMetrics(&m, s.Tasks())
		leaseMetrics(&m, s.Leases())
		if s.Controller != nil {
			st, err := s.Controller.Stats(r.Context())
			if err != nil {
				http.Error(w, "controller figures: "+err.Error(), http.StatusInternalServerError)
				return
			}
			controllerMetrics(&m, st)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = m.write(w)
	}
}

// taskMetrics adds the figures of the daemon's tasks.
func taskMetrics(m *metricSet, rows []Task) {
	slices.SortFunc(rows, func(a, b Task) int { return cmp.Compare(a.Report.ID, b.Report.ID) })

	queue := map[string]int{}
	for _, r := range rows {
		queue[string(r.Role)+"/"+string(r.Report.State)]++
		l := []string{"dist", r.Dist, "role", string(r.Role)}
		for _, src := range []struct {
			name string
			n    int64
		}{{api.SourceBT, r.Report.BytesBT}, {api.SourceHTTPRelay, r.Report.BytesHTTPRelay}, {api.SourceHTTPOrigin, r.Report.BytesHTTPOrigin}} {
			m.add("dist_task_bytes_total", "counter", "Bytes received by a task, by source (bt, http-relay, http-origin).",
				float64(src.n), append(l, "source", src.name)...)
		}
		m.add("dist_task_bytes_up_total", "counter", "Bytes a task sent to peers, over BitTorrent and HTTP.", float64(r.Report.BytesUp), l...)
		m.add("dist_task_have_bytes", "gauge", "Bytes a task holds, verified.", float64(r.Report.Have), l...)
		m.add("dist_task_pieces_verified", "gauge", "Pieces a task holds, verified.", float64(r.Pieces), l...)
		m.add("dist_task_pieces", "gauge", "Pieces of a task's file.", float64(r.PieceN), l...)
		m.add("dist_task_pieces_failed_total", "counter", "Pieces received (over BitTorrent or HTTP) that failed their hash and were discarded.", float64(r.Bad), l...)
		m.add("dist_task_peers", "gauge", "Connected BitTorrent peers of a task.", float64(r.Report.Peers), l...)
		failed := 0.0
		if r.Report.State == api.TaskFailed {
			failed = 1
		}
		m.add("dist_task_failed", "gauge", "1 when a task gave up.", failed, l...)
		if r.Report.Mode != "" {
			m.add("dist_task_assist_mode", "gauge", "The hybrid mode of a client task (bt, assisting, http-main): 1 for the current one.",
				1, append(l, "mode", r.Report.Mode)...)
			m.add("dist_task_assist_switches", "gauge", "Hybrid mode changes of a client task still in its report.",
				float64(len(r.Report.ModeChanges)), l...)
		}
	}
	keys := make([]string, 0, len(queue))
	for k := range queue {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		role, state, _ := strings.Cut(k, "/")
		m.add("dist_tasks", "gauge", "Tasks of this host by role and state; pending and waiting ones are its queue.",
			float64(queue[k]), "role", role, "state", state)
	}
}

// leaseMetrics adds the state of the daemon's origin leases.
func leaseMetrics(m *metricSet, states []lease.State) {
	slices.SortFunc(states, func(a, b lease.State) int { return cmp.Compare(a.Origin, b.Origin) })
	for _, s := range states {
		m.add("dist_origin_lease", "gauge", "1 for the phase of this host's origin lease (leased, waiting, idle).", 1,
			"origin", s.Origin, "phase", s.Phase)
		m.add("dist_origin_lease_conns", "gauge", "Connections granted by the origin lease.", float64(s.Lease.Conns), "origin", s.Origin)
		m.add("dist_origin_requests_in_flight", "gauge", "Origin requests in flight under the lease.", float64(s.InUse), "origin", s.Origin)
		m.add("dist_origin_bytes_total", "counter", "Bytes admitted from the origin.", float64(s.Bytes), "origin", s.Origin)
	}
}

// controllerMetrics adds what the controller keeps.
func controllerMetrics(m *metricSet, st controller.Stats) {
	for _, x := range st.Distributions {
		m.add("dist_controller_distributions", "gauge", "Distributions by state.", float64(x.N), "state", x.Key)
	}
	for _, x := range st.Assignments {
		role, state, _ := strings.Cut(x.Key, "/")
		m.add("dist_controller_assignments", "gauge", "Assignments of live distributions by role and state; pending ones are the delivery queue.",
			float64(x.N), "role", role, "state", state)
	}
	m.add("dist_controller_hosts", "gauge", "Hosts known to the controller.", float64(st.Hosts), "online", "false")
	m.add("dist_controller_hosts", "gauge", "Hosts known to the controller.", float64(st.Online), "online", "true")
	for _, x := range st.Bytes {
		m.add("dist_controller_bytes", "gauge", "Bytes received by clients of live distributions, by source.", float64(x.N), "source", x.Key)
	}
}
