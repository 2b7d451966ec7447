package lease_test

import (
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/lease"
	"dist/daemon/demo/origin"
)

// TestDeadHolderShareReturns: a host dies holding the origin's only connection; another host gets
// it within two lease lifetimes, and the dead host's lease is gone from the controller.
func TestDeadHolderShareReturns(t *testing.T) {
	t.Parallel()
	const ttl = time.Second
	ctl := newCtl(t, ttl)
	org := startOrigin(t, 4<<20, origin.ModeNormal, 0)
	ctl.setPolicy(api.OriginUpdate{Origin: org.URL(), MaxConns: ptr(1), MaxRate: ptr(int64(2 << 20))})

	dc := &deadController{Controller: ctl.host()}
	a := startHolder(t, dc, "host-a", org, 4<<20)
	eventually(t, 5*time.Second, "host-a never got a lease", func() bool {
		return a.gate.State().Phase == lease.PhaseLeased && org.Stats().BytesServed > 0
	})
	// Killed: no renewal, no release, no more requests.
	dc.dead.Store(true)
	a.cancel()
	<-a.done
	killed := time.Now()

	b := startHolder(t, ctl.host(), "host-b", org, 4<<20)
	eventually(t, 2*ttl, "host-b did not get the dead host's share within two lease lifetimes", func() bool {
		return b.gate.State().Phase == lease.PhaseLeased
	})
	t.Logf("dead host's share returned after %s (lease lifetime %s)", time.Since(killed).Round(time.Millisecond), ttl)
	st := ctl.status(org.URL())
	for _, l := range st.Leases {
		if l.Holder == "host-a" {
			t.Errorf("the dead host still holds a lease: %+v", l)
		}
	}
	if p := peakConns(org.Samples()); p > 1 {
		t.Errorf("origin saw %d requests in flight, cap 1", p)
	}
}

// TestControllerRestartKeepsCapsAndSpent: the controller restarts (a new process over the same
// SQLite file) while hosts pull; the policy is still there, the bytes spent in the window are not
// forgotten, and at the origin the caps hold throughout.
func TestControllerRestartKeepsCapsAndSpent(t *testing.T) {
	t.Parallel()
	const (
		maxConns = 3
		maxRate  = 4 << 20
		budget   = 12 << 20
		fileSize = 2 << 20
	)
	ctl := newCtl(t, time.Second)
	org := startOrigin(t, fileSize, origin.ModeNormal, 0)
	ctl.setPolicy(api.OriginUpdate{Origin: org.URL(), MaxConns: ptr(maxConns), MaxRate: ptr(int64(maxRate)),
		MaxBytes: ptr(int64(budget)), WindowS: ptr(int64(3600))})
	hs := make([]*holder, 5)
	for i := range hs {
		hs[i] = startHolder(t, ctl.host(), "host-"+string(rune('a'+i)), org, fileSize)
	}
	eventually(t, 10*time.Second, "hosts did not spend 4 MiB", func() bool { return ctl.status(org.URL()).Spent >= 4<<20 })
	before := ctl.status(org.URL())

	ctl.restart()
	after := ctl.status(org.URL())
	if after.MaxConns != maxConns || after.MaxRate != maxRate || after.MaxBytes != budget || after.WindowS != 3600 {
		t.Errorf("policy after restart: %+v", after.OriginPolicy)
	}
	if after.Spent < before.Spent+before.Outstanding {
		t.Errorf("after restart the controller counts %d bytes spent; before it counted %d spent and %d granted",
			after.Spent, before.Spent, before.Outstanding)
	}
	if after.QuietUntil.IsZero() {
		t.Error("the restarted controller grants at once: leases of the old process may still be in use")
	}

	eventually(t, 20*time.Second, "hosts did not all stop with the budget spent", func() bool {
		for _, h := range hs {
			st := h.gate.State()
			if st.Phase != lease.PhaseWaiting || !strings.Contains(st.Reason, "budget") || st.InUse != 0 {
				return false
			}
		}
		return true
	})
	served := org.Stats().BytesServed
	s := org.Samples()
	t.Logf("restart at %d bytes spent: origin served %d bytes in all (budget %d), peak %d requests in flight (cap %d)",
		before.Spent, served, budget, peakConns(s), maxConns)
	if served > budget {
		t.Errorf("origin served %d bytes, over the budget of %d", served, budget)
	}
	if p := peakConns(s); p > maxConns {
		t.Errorf("origin saw %d requests in flight, cap %d", p, maxConns)
	}
	for _, h := range hs {
		if err, _ := h.err.Load().(error); err != nil {
			t.Errorf("a host's pull failed: %v", err)
		}
	}
}
