package controller_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"dist/core/api"
)

// series answers every series of the controller's collector by family name.
func series(t *testing.T, e *env) map[string][]*dto.Metric {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.srv.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string][]*dto.Metric{}
	for _, f := range fams {
		out[f.GetName()] = f.GetMetric()
	}
	return out
}

// count answers the counter value, gauge value or histogram count of the series with labels.
func count(ms []*dto.Metric, labels ...string) float64 {
next:
	for _, m := range ms {
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
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		default:
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestMetricsCountTheAPI drives registrations, a push, watches, refused calls and lease requests
// of each outcome, and finds each in the controller's figures under bounded labels: route
// patterns, status classes and origin keys, never a host name or a distribution id.
func TestMetricsCountTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	e.fleet()
	d := e.create("site=a")
	for _, h := range []string{"c1", "c2", "relay-a"} {
		if _, err := e.host.Watch(ctx, h, ""); err != nil {
			t.Fatalf("watch of %s: %v", h, err)
		}
	}
	if code, _ := rawRequest(t, http.MethodGet, e.url+"/v1/hosts", "Bearer nope", nil); code != http.StatusUnauthorized {
		t.Fatalf("bad token answered %d", code)
	}
	rawRequest(t, http.MethodGet, e.url+"/v1/nothing-here", "", nil)

	// One connection and 1000 bytes for everyone: a is granted, b waits for the connection, and
	// once a spent the budget b is denied until the window turns.
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxConns: ptr(1), MaxBytes: ptr(int64(1000))}); err != nil {
		t.Fatal(err)
	}
	a, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "a"})
	if err != nil || !a.Granted {
		t.Fatalf("first lease: %+v, %v", a, err)
	}
	if b, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "b"}); err != nil || b.Granted {
		t.Fatalf("second lease on one connection: %+v, %v", b, err)
	}
	if _, err := e.host.RenewLease(ctx, a.Lease.ID, api.LeaseRenew{Used: 1000}); err != nil {
		t.Fatal(err)
	}
	if b, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "b"}); err != nil || b.Granted {
		t.Fatalf("lease with the budget spent: %+v, %v", b, err)
	}

	m := series(t, e)
	key, _ := api.OriginKey(originURL)
	for _, c := range []struct {
		name    string
		labels  []string
		atLeast float64
	}{
		{"dist_controller_http_request_duration_seconds", []string{"route", "POST /v1/hosts", "code", "2xx"}, 6},
		{"dist_controller_http_request_duration_seconds", []string{"route", "GET /v1/watch", "code", "2xx"}, 3},
		{"dist_controller_http_request_duration_seconds", []string{"route", "GET /v1/hosts", "code", "4xx"}, 1},
		{"dist_controller_http_request_duration_seconds", []string{"route", "/v1/", "code", "4xx"}, 1},
		{"dist_controller_http_response_size_bytes", []string{"route", "GET /v1/watch"}, 3},
		{"dist_controller_store_duration_seconds", []string{"op", "upsert_hosts"}, 6}, // one after the other: a batch each
		{"dist_controller_store_duration_seconds", []string{"op", "create_distribution"}, 1},
		{"dist_controller_watch_wakeups_total", []string{"cause", "immediate"}, 3},
		{"dist_controller_watch_answer_tasks", nil, 3},
		{"dist_controller_lease_requests_total", []string{"origin", key, "outcome", "granted"}, 1},
		{"dist_controller_lease_requests_total", []string{"origin", key, "outcome", "waiting"}, 1},
		{"dist_controller_lease_requests_total", []string{"origin", key, "outcome", "denied"}, 1},
		{"dist_controller_origin_conns_cap", []string{"origin", key}, 1},
		{"dist_controller_origin_window_budget_bytes", []string{"origin", key}, 1000},
		{"dist_controller_origin_window_spent_bytes", []string{"origin", key}, 1000},
		{"dist_controller_requests_in_flight_max", []string{"queue", "report"}, 1},
	} {
		if got := count(m[c.name], c.labels...); got < c.atLeast {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.atLeast)
		}
	}
	if got := count(m["dist_controller_origin_window_left_bytes"], "origin", key); got != 0 {
		t.Errorf("budget left %v after spending all of it", got)
	}
	for name, ms := range m {
		for _, s := range ms {
			for _, l := range s.GetLabel() {
				for _, bad := range []string{"c1", "c2", "relay-a", d.ID} {
					if l.GetValue() == bad || strings.Contains(l.GetValue(), d.ID) {
						t.Errorf("%s has label %s=%q: a host name or id", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
}
