package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"dist/core/api"
)

// view renders s at 80×24 without colour, as the dashboard draws it.
func view(t *testing.T, s Snapshot, u ui) string {
	t.Helper()
	u.width, u.height, u.theme = 80, 24, newTheme(false, false)
	out := render(s, u)
	lines := strings.Split(out, "\n")
	if len(lines) > 24 {
		t.Errorf("%d lines, want at most 24", len(lines))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line %d is %d cells wide: %q", i+1, w, l)
		}
		if l != ansi.Strip(l) {
			t.Errorf("line %d carries escape codes without colour: %q", i+1, l)
		}
	}
	return out
}

// TestViews are the golden files of the dashboard's screens (go test ./tui -update rewrites them).
func TestViews(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		snap func() Snapshot
		ui   ui
	}{
		{"empty_fleet", func() Snapshot {
			return Snapshot{At: at, Controller: "http://ctl:7700"}
		}, ui{}},
		{"fleet", fleetSnapshot, ui{}},
		{"assist_active", swarmSnapshot, ui{screen: screenSwarm, hostCur: 2}},
		{"limits_near_caps", func() Snapshot {
			s := fleetSnapshot()
			s.Limits = []Limit{
				{Origin: "http://origin:8080", Name: "connections", Unit: UnitConns, Used: 97, Cap: 100},
				{Origin: "http://origin:8080", Name: "bandwidth", Unit: UnitRate, Used: 95 * mib, Cap: 100 * mib, Measured: 93 * mib},
				{Origin: "http://origin:8080", Name: "bytes", Unit: UnitBytes, Used: 98 << 30, Cap: 100 << 30, Window: "24h"},
				{Origin: "https://cdn.example", Name: "connections", Unit: UnitConns, Used: 40, Cap: 0},
				{Origin: "https://cdn.example", Name: "bandwidth", Unit: UnitRate, Used: 0, Cap: 0, Measured: 4 * mib},
			}
			return s
		}, ui{}},
		{"failed_host", func() Snapshot {
			s := swarmSnapshot()
			h := &s.Swarm.Hosts[3]
			h.State, h.RateBT, h.Assist, h.Reason = "failed", 0, "", ""
			h.Error = "write /var/lib/dist/files/base.img: no space left on device"
			s.Swarm.Dist.Failed, s.Dists[0].Failed = 1, 1
			s.Swarm.Events = append([]Event{{At: at.Add(-2 * time.Second), Dist: "k3vq9x2m7a", Host: "client-4", Kind: "failed",
				Msg: "task k3vq9x2m7a/client-4/client failed: no space left on device"}}, s.Swarm.Events...)
			return s
		}, ui{screen: screenSwarm, hostCur: 3}},
		{"stalled_list", stalledSnapshot, ui{plain: true}},
		{"stalled_list_selected", stalledSnapshot, ui{}},
		{"stalled_swarm", func() Snapshot {
			s := stalledSnapshot()
			d := s.Dists[0]
			s.Swarm = &Swarm{Dist: d,
				Relays: []Relay{{Name: "relay-1", State: "downloading", Have: 40 * mib, Size: 256 * mib, Rate: 0,
					Stall: "waiting for origin quota: origin byte budget spent until 00:00"}},
				Hosts: []Host{
					{Name: "client-1", State: "downloading", Have: 40 * mib, Size: 256 * mib, Assist: "bt", Peers: 2,
						Stall: "no new bytes for 12s from 2 peers"},
					{Name: "client-2", State: "waiting", Size: 256 * mib, Peers: 0, Stall: "no peers: nobody holds pieces to fetch yet"},
				}}
			return s
		}, ui{screen: screenSwarm, plain: true}},
		{"help", fleetSnapshot, ui{help: true}},
		{"confirm_cancel", fleetSnapshot, ui{confirm: true}},
		{"local", func() Snapshot {
			return Snapshot{At: at, Local: &Local{Name: "client-3", Roles: []api.Role{api.RoleClient}, Controller: "http://ctl:7700",
				Tasks: []Host{{Name: "client-3", Dist: "k3vq9x2m7a", Role: "client", State: "downloading", Have: 120 * mib,
					RateBT: 120 << 10, RateHTTP: 50 << 10, Assist: "assisting", Reason: "bt 120 KiB/s below 500 KiB/s for 3 samples", Peers: 2}}}}
		}, ui{screen: screenLocal}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			golden.RequireEqual(t, view(t, tc.snap(), tc.ui))
		})
	}
}

// TestViewsFitSmallAndLarge renders every screen at sizes around 80×24 and checks the bounds.
func TestViewsFitSmallAndLarge(t *testing.T) {
	t.Parallel()
	for _, size := range [][2]int{{80, 24}, {60, 15}, {120, 40}, {40, 10}} {
		for _, scr := range []screen{screenList, screenSwarm} {
			s := swarmSnapshot()
			for i := range 30 { // more hosts than fit: the table scrolls
				h := s.Swarm.Hosts[i%6]
				h.Name = h.Name + "x" + strings.Repeat("y", i%3)
				s.Swarm.Hosts = append(s.Swarm.Hosts, h)
			}
			u := ui{width: size[0], height: size[1], screen: scr, hostCur: 25, theme: newTheme(true, false)}
			out := render(s, u)
			lines := strings.Split(out, "\n")
			if len(lines) > size[1] {
				t.Errorf("%v screen %d: %d lines", size, scr, len(lines))
			}
			for _, l := range lines {
				if ansi.StringWidth(l) > max(size[0], 40) {
					t.Errorf("%v screen %d: line %q is %d wide", size, scr, ansi.Strip(l), ansi.StringWidth(l))
				}
			}
			if scr == screenSwarm && size[1] >= 15 && !strings.Contains(ansi.Strip(out), "> "+s.Swarm.Hosts[25].Name) &&
				!strings.Contains(ansi.Strip(out), "▶ "+s.Swarm.Hosts[25].Name) {
				t.Errorf("%v: selected host 25 is not visible:\n%s", size, ansi.Strip(out))
			}
		}
	}
}

func TestRenderPlain(t *testing.T) {
	t.Parallel()
	s := fleetSnapshot()
	out := Render(s, 80, false)
	if out != ansi.Strip(out) {
		t.Errorf("plain output carries escape codes")
	}
	for _, want := range []string{"k3vq9x2m7a", "base.img", "active", "#", "connections", "state active (was pending)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "q quit") {
		t.Errorf("plain output shows key hints:\n%s", out)
	}
}

// stalledSnapshot is a distribution held back by its origin's spent byte budget.
func stalledSnapshot() Snapshot {
	s := fleetSnapshot()
	d := &s.Dists[0]
	d.Rate, d.ETA, d.Reason = 0, -1, "waiting for origin quota: origin byte budget spent until 00:00"
	s.Limits[1].Measured = 0
	return s
}
