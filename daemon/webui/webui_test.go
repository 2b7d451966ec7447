package webui

import (
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/tui"
)

// The page says why a distribution, a relay and a host are not moving, and shows the origin's
// measured rate beside the leased one.
func TestPageShowsStallsAndMeasuredRate(t *testing.T) {
	t.Parallel()
	d := tui.Dist{ID: "d1", Name: "img", State: api.DistActive, Size: 100, Targets: 2, Rate: 0, ETA: -1,
		Reason: "waiting for origin quota: origin byte budget spent until 00:00"}
	snap := tui.Snapshot{At: time.Unix(1000, 0), Dists: []tui.Dist{d}, LimitsKnown: true,
		Limits: []tui.Limit{{Origin: "http://o", Name: "bandwidth", Unit: tui.UnitRate, Used: 0, Measured: 4 << 20}},
		Swarm: &tui.Swarm{Dist: d,
			Relays: []tui.Relay{{Name: "relay-1", State: api.TaskDownloading, Stall: "no bytes from the origin for 9s"}},
			Hosts: []tui.Host{
				{Name: "c1", State: api.TaskWaiting, Stall: "no peers: nobody holds pieces to fetch yet"},
				{Name: "c2", State: api.TaskCancelled, Assist: "bt", Reason: "bt 4 MiB/s"},
			}}}
	h := New(Config{})
	html := h.fragment(view{Snap: snap, Dist: "d1"})
	for _, want := range []string{
		"not moving: waiting for origin quota: origin byte budget spent until 00:00",
		"no bytes from the origin for 9s",
		"no peers: nobody holds pieces to fetch yet",
		"4.0M/s",
		"state-cancelled",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q:\n%s", want, html)
		}
	}
}
