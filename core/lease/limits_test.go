package lease_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/lease"
	"dist/daemon/demo/origin"
)

func ptr[T any](v T) *T { return &v }

// TestFleetStaysInsideOriginCaps: 20 hosts pull from one instrumented origin at once, each through
// its own lease from the real controller over loopback. Measured at the origin: requests in flight
// never above the cap, bytes over any 10 s within 5 % of the rate cap, bytes never above the budget;
// when the budget is spent every host stops and says so, and they resume in the next window.
func TestFleetStaysInsideOriginCaps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 25 s")
	}
	t.Parallel()
	const (
		hosts    = 20
		maxConns = 6
		maxRate  = 4 << 20  // bytes/s
		budget   = 48 << 20 // bytes per window
		fileSize = 4 << 20
	)
	ctl := newCtl(t, 2*time.Second)
	// An origin twice as fast as the cap, so that requests last and overlap as on a real link.
	org := startOrigin(t, fileSize, origin.ModeNormal, maxRate*2)
	ctl.setPolicy(api.OriginUpdate{Origin: org.URL(), MaxConns: ptr(maxConns), MaxRate: ptr(int64(maxRate)),
		MaxBytes: ptr(int64(budget)), WindowS: ptr(int64(60))})

	hs := make([]*holder, hosts)
	for i := range hs {
		hs[i] = startHolder(t, ctl.host(), fmt.Sprintf("host-%02d", i), org, fileSize)
	}

	t.Cleanup(func() { // what the hosts and the controller say, when the test fails
		if !t.Failed() {
			return
		}
		for _, h := range hs {
			t.Logf("%+v err=%v", h.gate.State(), h.err.Load())
		}
		t.Logf("%+v", ctl.status(org.URL()))
		t.Logf("origin %+v", org.Stats())
	})
	// The budget runs out after 10-20 s (rates are throttled near its end): every host must then be waiting, saying
	// why, and the origin must have stopped sending.
	spentOut := func() bool {
		for _, h := range hs {
			st := h.gate.State()
			if st.Phase != lease.PhaseWaiting || !strings.Contains(st.Reason, "budget") || st.InUse != 0 {
				return false
			}
		}
		return true
	}
	eventually(t, 40*time.Second, "hosts did not all stop with the budget spent", spentOut)
	stopped := org.Stats().BytesServed
	s := org.Samples()
	peak, best := peakConns(s), window10s(s)
	t.Logf("budget spent after %.1fs: origin served %d bytes (budget %d), peak %d requests in flight (cap %d), "+
		"max 10 s rate %.2f MiB/s (cap %.2f MiB/s)", float64(len(s))/10, stopped, budget, peak, maxConns,
		float64(best)/10/(1<<20), float64(maxRate)/(1<<20))
	if os.Getenv("LEASE_DEBUG") != "" {
		for i := 0; i+10 <= len(s); i += 10 {
			var b int64
			for _, x := range s[i : i+10] {
				b += x.Bytes
			}
			t.Logf("second %2d: %.2f MiB", i/10, float64(b)/(1<<20))
		}
	}
	for _, h := range hs {
		if err, _ := h.err.Load().(error); err != nil {
			t.Errorf("a host's pull failed: %v", err)
		}
	}
	if stopped > budget {
		t.Errorf("origin served %d bytes, over the budget of %d", stopped, budget)
	}
	if peak > maxConns {
		t.Errorf("origin saw %d requests in flight, cap %d", peak, maxConns)
	}
	if limit := int64(float64(maxRate) * 10 * 1.05); best > limit {
		t.Errorf("origin served %d bytes in 10 s, more than the cap +5 %% (%d)", best, limit)
	}
	if best < maxRate*10/2 {
		t.Errorf("origin served only %d bytes in its best 10 s: the fleet used less than half the rate cap", best)
	}
	st := ctl.status(org.URL())
	if st.Spent > budget || st.Spent < stopped {
		t.Errorf("controller counts %d bytes spent; the origin served %d, the budget is %d", st.Spent, stopped, budget)
	}

	// Nothing more until the next window; then they resume.
	ctl.clock.Jump(time.Minute)
	eventually(t, 10*time.Second, "hosts did not resume in the next window", func() bool {
		return org.Stats().BytesServed > stopped+2*fileSize
	})
	for _, h := range hs {
		h.stop()
	}
	s = org.Samples()
	if p := peakConns(s); p > maxConns {
		t.Errorf("after the window: origin saw %d requests in flight, cap %d", p, maxConns)
	}
	if b := window10s(s); b > int64(float64(maxRate)*10*1.05) {
		t.Errorf("after the window: origin served %d bytes in 10 s, more than the cap +5 %%", b)
	}
}
