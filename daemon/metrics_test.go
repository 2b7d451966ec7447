package daemon_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"dist/core/api"
	"dist/daemon/demo/origin"
	"dist/daemon/metrics"
)

// parseMetrics scrapes url and parses the answer with the Prometheus text parser.
func parseMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(scrape(t, url)))
	if err != nil {
		t.Fatalf("%s does not parse as Prometheus text: %v", url, err)
	}
	return fams
}

// observed answers the sample count of a histogram family over its series matching labels.
func observed(f *dto.MetricFamily, labels ...string) uint64 {
	var n uint64
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
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// pushFile serves a generated file from a fresh origin with a byte budget and pushes it to every
// client. It answers the distribution as it ended and the controller's figures while it was live.
func pushFile(ctx context.Context, t *testing.T, f *fleet, name string, size int64, seed uint64) (api.Distribution, map[string]*dto.MetricFamily) {
	t.Helper()
	src := filepath.Join(f.dir, name)
	if _, err := origin.Generate(src, size, seed); err != nil {
		t.Fatal(err)
	}
	org, err := origin.Start(origin.Options{File: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	budget := int64(1 << 30)
	if _, err := f.admin.SetOrigin(ctx, api.OriginUpdate{Origin: org.URL(), MaxBytes: &budget}); err != nil {
		t.Fatal(err)
	}
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	live := parseMetrics(t, f.ctrl.HTTPURL()+"/metrics")
	if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
		t.Fatalf("push of %s ended %s: %+v", name, d.State, d.Assignments)
	}
	return d, live
}

// TestMetricsOfARunningFleet pushes a small file through a controller, a relay and a client, then
// to three more clients: every daemon's /metrics parses with the Prometheus text parser, the
// controller's and the hosts' histograms have counted the push, the controller's series do not
// grow with the hosts (no label is a host name or an id), and every metric the Grafana dashboard
// queries is exported by one of the daemons.
func TestMetricsOfARunningFleet(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newFleet(t)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, nil)
	f.waitHosts(ctx, 3)
	first, live := pushFile(ctx, t, f, "first.img", 3<<20+17, 5)

	ctl := parseMetrics(t, f.ctrl.HTTPURL()+"/metrics")
	client := parseMetrics(t, f.daemons["client-1"].HTTPURL()+"/metrics")
	relay := parseMetrics(t, f.daemons["relay-1"].HTTPURL()+"/metrics")

	t.Run("histograms count the push", func(t *testing.T) {
		for _, c := range []struct {
			who    string
			fams   map[string]*dto.MetricFamily
			name   string
			labels []string
		}{
			{"controller", ctl, "dist_controller_http_request_duration_seconds", []string{"route", "POST /v1/distributions", "code", "2xx"}},
			{"controller", ctl, "dist_controller_http_request_duration_seconds", []string{"route", "POST /v1/report", "code", "2xx"}},
			{"controller", ctl, "dist_controller_http_request_duration_seconds", []string{"route", "GET /v1/watch", "code", "2xx"}},
			{"controller", ctl, "dist_controller_http_response_size_bytes", []string{"route", "GET /v1/watch"}},
			{"controller", ctl, "dist_controller_store_duration_seconds", []string{"op", "create_distribution"}},
			{"controller", ctl, "dist_controller_watch_answer_tasks", nil},
			{"client", client, "dist_task_first_byte_seconds", []string{"role", "client"}},
			{"client", client, "dist_task_complete_seconds", []string{"role", "client"}},
			// A URL source: the lone client takes its pieces from the relay before the metainfo.
			{"client", client, "dist_host_piece_fetch_seconds", []string{"source", "http-relay"}},
			{"relay", relay, "dist_task_complete_seconds", []string{"role", "relay"}},
		} {
			f := c.fams[c.name]
			if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
				t.Errorf("%s exports no histogram %s", c.who, c.name)
				continue
			}
			if n := observed(f, c.labels...); n == 0 {
				t.Errorf("%s %s%v counted nothing after a push", c.who, c.name, c.labels)
			}
		}
		if v := sumOf(ctl["dist_controller_watch_wakeups_total"]); v == 0 {
			t.Error("no watch wake-up counted")
		}
		if v := sumOf(client["dist_host_bytes_total"]); v < 3<<20 {
			t.Errorf("client counted %v bytes received, want the file's", v)
		}
	})

	t.Run("dashboard queries exported metrics", func(t *testing.T) {
		exported := map[string]bool{}
		for _, fams := range []map[string]*dto.MetricFamily{live, ctl, client, relay} {
			for name, f := range fams {
				exported[name] = true
				if f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY {
					exported[name+"_sum"], exported[name+"_count"] = true, true
					exported[name+"_bucket"] = f.GetType() == dto.MetricType_HISTOGRAM
				}
			}
		}
		names := dashboardMetrics(t)
		if len(names) < 20 {
			t.Fatalf("the dashboard queries only %d metrics: %v", len(names), names)
		}
		for _, n := range names {
			if !exported[n] {
				t.Errorf("the dashboard queries %s, which no daemon exports", n)
			}
		}
	})

	// Three more hosts and a second push: the controller's series may gain a state or a status
	// class, never one per host.
	before := seriesCounts(ctl)
	for i := 2; i <= 4; i++ {
		f.start(fmt.Sprintf("client-%d", i), []api.Role{api.RoleClient}, nil)
	}
	f.waitHosts(ctx, 6)
	second, _ := pushFile(ctx, t, f, "second.img", 2<<20+3, 6)
	ctl = parseMetrics(t, f.ctrl.HTTPURL()+"/metrics")
	t.Run("labels do not grow with hosts", func(t *testing.T) {
		hosts := []string{"controller", "relay-1", "client-1", "client-2", "client-3", "client-4"}
		for name, n := range seriesCounts(ctl) {
			if n-before[name] >= 3 {
				t.Errorf("%s grew from %d to %d series with 3 more hosts", name, before[name], n)
			}
		}
		for name, fam := range ctl {
			if name == "dist_up" {
				continue // the daemon's own name, one series
			}
			for _, m := range fam.GetMetric() {
				for _, l := range m.GetLabel() {
					v := l.GetValue()
					if slices.Contains(hosts, v) || strings.Contains(v, first.ID) || strings.Contains(v, second.ID) {
						t.Errorf("controller metric %s has label %s=%q: a host name or a distribution id", name, l.GetName(), v)
					}
				}
			}
		}
	})
}

func sumOf(f *dto.MetricFamily) float64 {
	var v float64
	for _, m := range f.GetMetric() {
		v += m.GetCounter().GetValue()
	}
	return v
}

func seriesCounts(fams map[string]*dto.MetricFamily) map[string]int {
	out := map[string]int{}
	for name, f := range fams {
		out[name] = len(f.GetMetric())
	}
	return out
}

// dashboardMetrics answers every metric name the dashboard's queries use.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(metrics.Dashboard, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	// The project's names and the runtime's; label names, functions and keywords are none of these.
	name := regexp.MustCompile(`\b(?:dist|go|process)_[a-zA-Z0-9_]+\b`)
	seen := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				seen[n] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// TestPprofNeedsTheAdminToken asks every daemon of a small fleet for profiles: without a token, or
// with the host token, the answer is 401; with the admin token a one-second CPU profile comes back
// as a gzipped protobuf.
func TestPprofNeedsTheAdminToken(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	f.start("client-1", []api.Role{api.RoleClient}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	get := func(url, token string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := anyTLS.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	for _, name := range []string{"controller", "client-1"} {
		base := f.daemons[name].HTTPURL() + metrics.PprofPath
		for _, tok := range []string{"", hostToken, "wrong"} {
			for _, path := range []string{"", "profile?seconds=1", "heap"} {
				if code, _ := get(base+path, tok); code != http.StatusUnauthorized {
					t.Errorf("%s %s with token %q: %d, want 401", name, path, tok, code)
				}
			}
		}
		if code, body := get(base, adminToken); code != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) {
			t.Errorf("%s pprof index with the admin token: %d %.200s", name, code, body)
		}
	}
	// One CPU profile at a time per process: ask the controller only.
	code, body := get(f.ctrl.HTTPURL()+metrics.PprofPath+"profile?seconds=1", adminToken)
	if code != http.StatusOK {
		t.Fatalf("CPU profile with the admin token: %d %.200s", code, body)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("CPU profile is not gzipped (%d bytes): %v", len(body), err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil || len(raw) == 0 {
		t.Fatalf("CPU profile unreadable: %d bytes, %v", len(raw), err)
	}
}
