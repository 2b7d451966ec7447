package metrics

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"dist/core/api"
	"dist/core/lease"
)

// fakeHost is a daemon's tasks as a test sets them, on a clock the test moves.
type fakeHost struct {
	mu   sync.Mutex
	rows []Task
	now  time.Time
}

func (f *fakeHost) tasks() []Task {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Task(nil), f.rows...)
}

func (f *fakeHost) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeHost) set(now time.Time, rows ...Task) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now, f.rows = now, rows
}

func newFake(t *testing.T, leases ...lease.State) (*fakeHost, *Metrics) {
	t.Helper()
	f := &fakeHost{now: time.UnixMilli(1_000_000)}
	m := New(Source{Host: "h1", Roles: []api.Role{api.RoleClient}, Tasks: f.tasks, Now: f.clock,
		Leases: func() []lease.State { return leases }})
	return f, m
}

// gather answers the registry's families by name.
func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// sample answers the counter value, or the histogram count, of the series of name with labels.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func client(id string, rep api.TaskReport) Task {
	rep.ID = id
	return Task{Report: rep, Role: api.RoleClient, Dist: "d-" + id}
}

// TestHostCountersAddGrowthOnce feeds a task's report through several looks: bytes count once each,
// a counter that goes back does not subtract, repeated mode changes count once, the times are
// observed once, and counters keep what an ended task added.
func TestHostCountersAddGrowthOnce(t *testing.T) {
	t.Parallel()
	f, m := newFake(t)
	t0 := f.clock()
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ms := func(d time.Duration) int64 { return at(d).UnixMilli() }
	mc1 := api.ModeChange{AtMs: ms(2 * time.Second), From: "bt", To: "assisting"}
	mc2 := api.ModeChange{AtMs: ms(3 * time.Second), From: "assisting", To: "weird"}

	f.set(t0, client("t1", api.TaskReport{}))
	m.host.sync()
	f.set(at(time.Second), client("t1", api.TaskReport{BytesBT: 100, BytesHTTPRelay: 10, FirstByteMs: ms(1500 * time.Millisecond)}))
	m.host.sync()
	f.set(at(2*time.Second), client("t1", api.TaskReport{BytesBT: 150, BytesHTTPRelay: 10, BytesUp: 7, FirstByteMs: ms(1500 * time.Millisecond),
		ModeChanges: []api.ModeChange{mc1}}))
	m.host.sync()
	// The task started over: its counters went down; then it grows again and ends.
	f.set(at(3*time.Second), client("t1", api.TaskReport{BytesBT: 20, FirstByteMs: ms(1500 * time.Millisecond),
		ModeChanges: []api.ModeChange{mc1, mc2}}))
	m.host.sync()
	f.set(at(4*time.Second), client("t1", api.TaskReport{BytesBT: 50, FirstByteMs: ms(1500 * time.Millisecond), DoneMs: ms(4 * time.Second),
		ModeChanges: []api.ModeChange{mc1, mc2}}))
	m.host.sync()
	f.set(at(5 * time.Second)) // the task is gone
	fams := gather(t, m)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dist_host_bytes_total", []string{"source", "bt"}, 150 + 30},
		{"dist_host_bytes_total", []string{"source", "http-relay"}, 10},
		{"dist_host_bytes_total", []string{"source", "http-origin"}, 0},
		{"dist_host_bytes_up_total", nil, 7},
		{"dist_host_assist_mode_changes_total", []string{"from", "bt", "to", "assisting"}, 1},
		{"dist_host_assist_mode_changes_total", []string{"from", "assisting", "to", "other"}, 1},
		{"dist_task_first_byte_seconds", []string{"role", "client"}, 1},
		{"dist_task_complete_seconds", []string{"role", "client"}, 1},
	} {
		if got := sample(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	h := fams["dist_task_first_byte_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleSum() != 1.5 {
		t.Errorf("first byte after %vs, want 1.5 (from the first look)", h.GetSampleSum())
	}
	if got := sample(fams, "dist_task_bytes_total", "dist", "d-t1"); got != -1 {
		t.Errorf("the ended task's per-task series is still there (%v)", got)
	}
}

// TestTaskTakenUpBeforeTheDaemonIsNotTimed: a task whose first byte and end came well before the
// first look (a restart) has no known start, so it adds no time to the histograms.
func TestTaskTakenUpBeforeTheDaemonIsNotTimed(t *testing.T) {
	t.Parallel()
	f, m := newFake(t)
	old := f.clock().Add(-time.Hour).UnixMilli()
	f.set(f.clock(), client("t1", api.TaskReport{BytesBT: 5, FirstByteMs: old, DoneMs: old + 1}))
	m.host.sync()
	fams := gather(t, m)
	for _, name := range []string{"dist_task_first_byte_seconds", "dist_task_complete_seconds"} {
		if got := sample(fams, name, "role", "client"); got > 0 {
			t.Errorf("%s counted %v tasks taken up before the first look", name, got)
		}
	}
	if got := sample(fams, "dist_host_bytes_total", "source", "bt"); got != 5 {
		t.Errorf("bytes = %v, want the 5 the task holds", got)
	}
}

// TestScrapeParses serves /metrics for a task and a lease: the Prometheus text parser reads it,
// the names of the hand-written exposition are there with their types, and a duplicate task of one
// distribution and role does not break the scrape.
func TestScrapeParses(t *testing.T) {
	t.Parallel()
	f, m := newFake(t, lease.State{Origin: "http://o:80", Phase: "leased", Bytes: 9})
	f.set(f.clock(), client("t1", api.TaskReport{BytesBT: 3, Mode: "bt"}), client("t1", api.TaskReport{BytesBT: 4}))
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for name, kind := range map[string]dto.MetricType{
		"dist_up": dto.MetricType_GAUGE, "dist_task_bytes_total": dto.MetricType_COUNTER, "dist_tasks": dto.MetricType_GAUGE,
		"dist_task_assist_mode": dto.MetricType_GAUGE, "dist_origin_bytes_total": dto.MetricType_COUNTER,
		"dist_origin_lease": dto.MetricType_GAUGE, "dist_host_bytes_total": dto.MetricType_COUNTER,
		"dist_task_first_byte_seconds": dto.MetricType_HISTOGRAM, "go_goroutines": dto.MetricType_GAUGE,
	} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		} else if fams[name].GetType() != kind {
			t.Errorf("%s is a %s, want %s", name, fams[name].GetType(), kind)
		}
	}
	if got := sample(fams, "dist_task_bytes_total", "dist", "d-t1", "source", "bt"); got != 3 {
		t.Errorf("task bytes = %v, want the first task's 3", got)
	}
	if got := sample(fams, "dist_tasks", "role", "client", "state", ""); got != 2 {
		t.Errorf("dist_tasks = %v, want both tasks", got)
	}
}

// TestPprofNeedsTheAdminToken: no token, a wrong one or none configured is 401; the right one
// gets the index.
func TestPprofNeedsTheAdminToken(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, configured, sent string
		want                   int
	}{
		{"no token", "adm", "", http.StatusUnauthorized},
		{"wrong token", "adm", "Bearer nope", http.StatusUnauthorized},
		{"host scheme", "adm", "Basic adm", http.StatusUnauthorized},
		{"none configured", "", "Bearer ", http.StatusUnauthorized},
		{"admin token", "adm", "Bearer adm", http.StatusOK},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, PprofPath, nil)
			if c.sent != "" {
				req.Header.Set("Authorization", c.sent)
			}
			rec := httptest.NewRecorder()
			Pprof(c.configured).ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.want, rec.Body)
			}
			if c.want == http.StatusOK && !strings.Contains(rec.Body.String(), "goroutine") {
				t.Errorf("index lacks the goroutine profile:\n%s", rec.Body)
			}
		})
	}
}

// TestDashboardIsGrafanaJSON: the dashboard parses and every panel target has a query.
func TestDashboardIsGrafanaJSON(t *testing.T) {
	t.Parallel()
	exprs := dashboardQueries(t)
	if len(exprs) < 10 {
		t.Fatalf("only %d queries in the dashboard", len(exprs))
	}
}

func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(Dashboard, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	var out []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q has an empty query", p.Title)
			}
			out = append(out, tg.Expr)
		}
	}
	return out
}

// TestTimesCountFromWhenTheTaskWasTakenUp: with the time the daemon took a task up known, its
// first byte is timed from then, even when the first look comes much later.
func TestTimesCountFromWhenTheTaskWasTakenUp(t *testing.T) {
	t.Parallel()
	f, m := newFake(t)
	taken := f.clock().Add(-10 * time.Second).UnixMilli()
	row := client("t1", api.TaskReport{FirstByteMs: taken + 1500})
	row.TakenMs = taken
	f.set(f.clock(), row)
	m.host.sync()
	fam := gather(t, m)["dist_task_first_byte_seconds"]
	var sum float64
	var n uint64
	for _, s := range fam.GetMetric() {
		sum += s.GetHistogram().GetSampleSum()
		n += s.GetHistogram().GetSampleCount()
	}
	if n != 1 || sum != 1.5 {
		t.Errorf("first byte timed %d times, %v s in all; want once, 1.5 s after it was taken up", n, sum)
	}
}
