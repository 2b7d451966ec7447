package controller_test

import (
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

// The progress interval grows with the fleet so the controller sees about 500 progress reports
// a second, between one second and twenty.
func TestReportEveryGrowsWithTheFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hosts int
		want  time.Duration
	}{
		{0, time.Second}, {16, time.Second}, {500, time.Second}, {2500, 5 * time.Second},
		{10_000, 20 * time.Second}, {100_000, 20 * time.Second},
	} {
		if got := controller.ReportEvery(tc.hosts); got != tc.want {
			t.Errorf("ReportEvery(%d) = %s, want %s", tc.hosts, got, tc.want)
		}
	}
}

// The tracker interval grows the same way: about 250 peers asks a second, between 5 s and a
// minute.
func TestPeersEveryGrowsWithTheFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hosts int
		want  time.Duration
	}{
		{0, 5 * time.Second}, {1000, 5 * time.Second}, {1250, 5 * time.Second}, {5000, 20 * time.Second},
		{10_000, 40 * time.Second}, {100_000, time.Minute},
	} {
		if got := controller.PeersEvery(tc.hosts); got != tc.want {
			t.Errorf("PeersEvery(%d) = %s, want %s", tc.hosts, got, tc.want)
		}
	}
}

// The heartbeat interval of idle hosts grows the same way: about 200 a second, between 10 s and
// two minutes.
func TestIdleEveryGrowsWithTheFleet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		hosts int
		want  time.Duration
	}{
		{0, 10 * time.Second}, {2000, 10 * time.Second}, {10_000, 50 * time.Second},
		{24_000, 2 * time.Minute}, {100_000, 2 * time.Minute},
	} {
		if got := controller.IdleEvery(tc.hosts); got != tc.want {
			t.Errorf("IdleEvery(%d) = %s, want %s", tc.hosts, got, tc.want)
		}
	}
}

// Heartbeats can be rare because watching keeps a host online by itself: a host that only
// renews its watch (as it does at least every api.WatchPollTimeout) stays online for minutes
// without a single report, and a host that stops watching goes offline after OnlineWindow.
func TestWatchingKeepsAHostOnline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	online := func(name string) bool {
		t.Helper()
		hs, err := e.admin.Hosts(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Name == name {
				return h.Online
			}
		}
		t.Fatalf("host %s is not listed", name)
		return false
	}
	for i := range 8 { // 8 renewals, 3 minutes, no report
		e.clock.Advance(api.WatchPollTimeout - time.Second)
		w, err := e.host.Watch(ctxT(t), "c1", "stale") // answered at once, as a renewal after a timeout
		if err != nil {
			t.Fatal(err)
		}
		if w.IdleEveryMs != controller.MinIdleEvery.Milliseconds() {
			t.Fatalf("a fleet of two is asked for a heartbeat every %d ms, want %s", w.IdleEveryMs, controller.MinIdleEvery)
		}
		if !online("c1") {
			t.Fatalf("after %d renewals the watching host is offline", i+1)
		}
	}
	if online("c2") {
		t.Fatal("a host that neither watched nor reported for 3 minutes is online")
	}
}
