package tui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"dist/core/api"
)

func TestRates(t *testing.T) {
	t.Parallel()
	r := newRates()
	t0 := time.Unix(1000, 0)
	if got := r.rate("a", t0, 100); got != -1 {
		t.Errorf("first reading: %v, want -1 (not known yet: shown \"-\", never 0B/s)", got)
	}
	if got := rate(-1); got != "-" {
		t.Errorf("an unknown rate renders %q, want \"-\"", got)
	}
	if got := r.rate("a", t0.Add(2*time.Second), 300); got != 100 {
		t.Errorf("200 bytes in 2s: %v, want 100", got)
	}
	if got := r.rate("a", t0.Add(3*time.Second), 50); got != 0 {
		t.Errorf("counter went back: %v, want 0", got)
	}
	r.sweep()
	r.sweep() // "a" was not read since the first sweep
	if len(r.last) != 0 {
		t.Errorf("sweep kept %v", r.last)
	}
}

func TestETA(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    Dist
		want time.Duration
	}{
		{Dist{State: "active", Size: 100, Targets: 2, Have: 100, Rate: 10}, 10 * time.Second},
		{Dist{State: "active", Size: 100, Targets: 2, Failed: 1, Have: 50, Rate: 10}, 5 * time.Second},
		{Dist{State: "active", Size: 100, Targets: 2, Have: 100}, -1},
		{Dist{State: "complete", Size: 100, Targets: 2, Have: 200}, 0},
	}
	for _, tc := range tests {
		if got := eta(tc.d); got != tc.want {
			t.Errorf("eta(%+v) = %v, want %v", tc.d, got, tc.want)
		}
	}
}

// fakeController serves just the controller routes the dashboard reads; origins answers 404 until
// limits are set, like a controller without origin limits.
type fakeController struct {
	mu     sync.Mutex
	have   int64
	limits []api.OriginStatus
}

func (f *fakeController) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := time.Unix(1000, 0)
	d := api.Distribution{ID: "d1", Name: "img", State: api.DistActive, Size: 1000, Targets: 2, Have: f.have,
		BytesBT: f.have, Settings: &api.Settings{CooldownMs: 60_000}}
	d.Assignments = []api.Assignment{
		{ID: "d1/r/relay", Host: "r", Role: api.RoleRelay, State: api.TaskSeeding, Have: 1000},
		{ID: "d1/b/client", Host: "b", Role: api.RoleClient, State: api.TaskDownloading, Have: f.have / 2, BytesBT: f.have / 2,
			Mode: "assisting", ModeReason: "bt slow", ModeAt: at, BytesHTTPRelay: 10},
		{ID: "d1/a/client", Host: "a", Role: api.RoleClient, State: api.TaskDownloading, Have: f.have / 2, BytesBT: f.have / 2},
	}
	var v any
	switch r.URL.Path {
	case "/v1/distributions":
		v = []api.Distribution{d}
	case "/v1/distributions/d1":
		v = d
	case "/v1/hosts":
		v = []api.Host{{Name: "a", Online: true}, {Name: "b"}}
	case "/v1/events":
		v = []map[string]any{{"at": at, "dist_id": "d1", "kind": "state", "msg": "state active"}}
	case "/v1/origins":
		if f.limits == nil {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(api.Error{Error: "no route", Code: api.CodeNotFound})
			return
		}
		v = f.limits
	default:
		w.WriteHeader(http.StatusNotFound)
		return
	}
	_ = json.NewEncoder(w).Encode(v)
}

func TestControllerSource(t *testing.T) {
	t.Parallel()
	fc := &fakeController{have: 100}
	srv := httptest.NewServer(fc)
	t.Cleanup(srv.Close)
	src := NewController(api.New(srv.URL, "tok"))
	now := time.Unix(1010, 0)
	src.now = func() time.Time { return now }
	ctx := context.Background()

	s, err := src.Fetch(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if s.LimitsKnown || s.Hosts != 2 || s.HostsOnline != 1 || len(s.Events) != 1 || s.Swarm == nil {
		t.Fatalf("first snapshot: %+v", s)
	}
	fc.mu.Lock()
	fc.have = 500
	fc.limits = []api.OriginStatus{{OriginPolicy: api.OriginPolicy{Origin: "http://o", MaxConns: 10, MaxRate: 100}, Conns: 9, Rate: 50, Spent: 7}}
	fc.mu.Unlock()
	now = now.Add(2 * time.Second)
	s, err = src.Fetch(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	sw := s.Swarm
	if s.Dists[0].Rate != 200 || sw.Dist.Rate != 200 {
		t.Errorf("rate %v, want 400 bytes in 2 s = 200/s", s.Dists[0].Rate)
	}
	if len(sw.Hosts) != 2 || sw.Hosts[0].Name != "a" || sw.Hosts[1].Assist != "assisting" || sw.Hosts[1].RateBT != 100 {
		t.Errorf("hosts %+v", sw.Hosts)
	}
	// Mode changed at 1000 s, cooldown 60 s, now 1012 s: 48 s left.
	if sw.Hosts[1].Cooldown != 48*time.Second {
		t.Errorf("cooldown %v, want 48s", sw.Hosts[1].Cooldown)
	}
	if len(sw.Relays) != 1 || sw.Relays[0].Clients != 1 {
		t.Errorf("relays %+v, want one serving one HTTP client", sw.Relays)
	}
	if !s.LimitsKnown || len(s.Limits) != 3 || s.Limits[0].Fraction() != 0.9 || s.Limits[2].Window != "24h" {
		t.Errorf("limits %+v", s.Limits)
	}
	s.Swarm = nil // the list screen shows the limits
	if out := Render(s, 80, false); !strings.Contains(out, "o                connections ") {
		t.Errorf("limits not shown:\n%s", out)
	}
}

// TestRatesSmooth: reports every 3 s read every second give a steady rate, not bursts.
func TestRatesSmooth(t *testing.T) {
	t.Parallel()
	r := newRates()
	t0 := time.Unix(1000, 0)
	var got []float64
	for s := 0; s <= 12; s++ {
		v := int64(s/3) * 300 // 100/s, reported every 3 s
		got = append(got, r.rate("a", t0.Add(time.Duration(s)*time.Second), v))
	}
	for i, g := range got[6:] {
		if g < 50 || g > 150 {
			t.Errorf("second %d: rate %v, want about 100 (all: %v)", i+6, g, got)
		}
	}
}
