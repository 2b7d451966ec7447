package tui

import (
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC // the views show local times: pin them for golden files
	os.Exit(m.Run())
}

var at = time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)

const mib = 1 << 20

// fleetSnapshot is a controller with two distributions, one of them in progress with some hosts
// assisted by HTTP, and origin limits well below their caps.
func fleetSnapshot() Snapshot {
	img := Dist{ID: "k3vq9x2m7a", Name: "base.img", State: "active", Size: 256 * mib, Targets: 6, Done: 1,
		Have: 900 * mib, Rate: 48 * mib, ETA: 13 * time.Second,
		BytesBT: 780 * mib, BytesRelay: 100 * mib, BytesOrigin: 20 * mib, Created: at.Add(-2 * time.Minute)}
	app := Dist{ID: "p0c8dn4w1e", Name: "app-2.4.1.tar.gz", State: "complete", Size: 64 * mib, Targets: 6, Done: 6,
		Have: 384 * mib, ETA: 0, BytesBT: 350 * mib, BytesRelay: 34 * mib, Created: at.Add(-time.Hour)}
	return Snapshot{
		At: at, Controller: "http://ctl:7700", Hosts: 8, HostsOnline: 8,
		Dists: []Dist{img, app},
		Limits: []Limit{
			{Origin: "http://origin:8080", Name: "connections", Unit: UnitConns, Used: 12, Cap: 100},
			{Origin: "http://origin:8080", Name: "bandwidth", Unit: UnitRate, Used: 20 * mib, Cap: 100 * mib, Measured: 14 * mib},
			{Origin: "http://origin:8080", Name: "bytes", Unit: UnitBytes, Used: 1 << 30, Cap: 100 << 30, Window: "24h"},
		},
		LimitsKnown: true,
		Events: []Event{
			{At: at.Add(-5 * time.Second), Dist: "k3vq9x2m7a", Host: "client-3", Kind: "mode", Msg: "bt → assisting: bt 120K/s below 500K/s for 3 samples"},
			{At: at.Add(-40 * time.Second), Dist: "k3vq9x2m7a", Host: "client-1", Kind: "state", Msg: "task done"},
			{At: at.Add(-100 * time.Second), Dist: "k3vq9x2m7a", Kind: "state", Msg: "state active (was pending)"},
			{At: at.Add(-110 * time.Second), Dist: "k3vq9x2m7a", Kind: "metainfo", Msg: "metainfo published: piece length 1048576"},
			{At: at.Add(-58 * time.Minute), Dist: "p0c8dn4w1e", Kind: "state", Msg: "state complete (was active): 6 of 6 targets done, 0 failed"},
		},
	}
}

// swarmSnapshot is the in-progress distribution opened: two hosts assisting, one in http-main.
func swarmSnapshot() Snapshot {
	s := fleetSnapshot()
	d := s.Dists[0]
	s.Swarm = &Swarm{
		Dist: d,
		Relays: []Relay{
			{Name: "relay-1", State: "seeding", Have: 256 * mib, Size: 256 * mib, Rate: 0, Up: 610 * mib, Clients: 6},
		},
		Hosts: []Host{
			{Name: "client-1", State: "seeding", Have: 256 * mib, Size: 256 * mib, Assist: "bt", Reason: "bt 40.0 MiB/s, threshold 500 KiB/s", Peers: 5},
			{Name: "client-2", State: "downloading", Have: 200 * mib, Size: 256 * mib, RateBT: 9 * mib, Assist: "bt", Reason: "bt 9.0 MiB/s, threshold 500 KiB/s", Peers: 5},
			{Name: "client-3", State: "downloading", Have: 120 * mib, Size: 256 * mib, RateBT: 120 << 10, RateHTTP: 50 << 10,
				Assist: "assisting", Reason: "bt 120 KiB/s below 500 KiB/s for 3 samples", Cooldown: 115 * time.Second, Peers: 2},
			{Name: "client-4", State: "downloading", Have: 150 * mib, Size: 256 * mib, RateBT: 8 * mib, Assist: "bt", Peers: 4},
			{Name: "client-5", State: "downloading", Have: 100 * mib, Size: 256 * mib, RateBT: 300 << 10, RateHTTP: 2 * mib,
				Assist: "http-main", Reason: "no bt peer for 30s", Cooldown: 80 * time.Second, Peers: 0},
			{Name: "client-6", State: "waiting", Have: 74 * mib, Size: 256 * mib, RateBT: 7 * mib, Assist: "bt", Peers: 3},
		},
		Events: s.Events[:4],
	}
	return s
}
