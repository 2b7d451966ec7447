package lease_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/lease"
	"dist/daemon/demo/origin"
)

// TestLeaseKeptThroughAnotherController: a holder's controller address dies while it holds a
// lease; the keeper renews it through the other address (the same controller behind both), the
// lease is kept and the pulls go on.
func TestLeaseKeptThroughAnotherController(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	ctl := newCtl(t, ttl)
	org := startOrigin(t, 1<<20, origin.ModeNormal, 4<<20)
	ctl.setPolicy(api.OriginUpdate{Origin: org.URL(), MaxConns: ptr(2)})
	var throughB atomic.Int64
	serve := func(count *atomic.Int64) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if count != nil {
				count.Add(1)
			}
			(*ctl.h.Load()).ServeHTTP(w, r)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := serve(nil), serve(&throughB)
	c := api.NewMulti([]string{a.URL, b.URL}, hostToken)
	h := startHolder(t, c, "host-a", org, 1<<20)
	eventually(t, 5*time.Second, "host-a never got a lease", func() bool {
		return h.gate.State().Phase == lease.PhaseLeased && h.pulls.Load() > 0
	})
	if throughB.Load() != 0 {
		t.Fatalf("%d calls through the second address while the first answered: want none", throughB.Load())
	}
	id := leaseOf(t, ctl, org.URL(), "host-a")
	// Killed: the port closes and its connections break.
	a.CloseClientConnections()
	a.Close()
	pulls := h.pulls.Load()
	// Two lease lifetimes: the lease was renewed through the second address at least twice.
	eventually(t, 10*time.Second, "no renewal through the second address", func() bool { return throughB.Load() >= 2 })
	eventually(t, 10*time.Second, "pulls stopped after the first address died", func() bool { return h.pulls.Load() >= pulls+2 })
	if err, _ := h.err.Load().(error); err != nil {
		t.Fatalf("holder failed: %v", err)
	}
	if got := leaseOf(t, ctl, org.URL(), "host-a"); got != id {
		t.Errorf("lease %s after the failover, want %s kept by renewals", got, id)
	}
}

// leaseOf answers the id of holder's lease on origin.
func leaseOf(t *testing.T, ctl *ctlEnv, origin, holder string) string {
	t.Helper()
	for _, l := range ctl.status(origin).Leases {
		if l.Holder == holder {
			return l.ID
		}
	}
	t.Fatalf("%s holds no lease on %s", holder, origin)
	return ""
}
