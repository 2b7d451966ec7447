package tui

import (
	"strings"
	"testing"
	"time"

	"dist/core/api"
)

func TestShownState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dist api.DistState
		task api.TaskState
		want api.TaskState
	}{
		{api.DistActive, api.TaskDownloading, api.TaskDownloading},
		{api.DistCancelled, api.TaskDownloading, api.TaskCancelled},
		{api.DistCancelled, api.TaskWaiting, api.TaskCancelled},
		{api.DistCancelled, api.TaskDone, api.TaskDone},
		{api.DistFailed, api.TaskDownloading, api.TaskFailed},
		{api.DistPartial, api.TaskPending, api.TaskFailed},
		{api.DistFailed, api.TaskSeeding, api.TaskSeeding},
	}
	for _, tc := range tests {
		if got := ShownState(tc.dist, tc.task); got != tc.want {
			t.Errorf("ShownState(%s, %s) = %s, want %s", tc.dist, tc.task, got, tc.want)
		}
	}
}

func TestStallReasons(t *testing.T) {
	t.Parallel()
	relay := func(have int64) api.Assignment {
		return api.Assignment{Host: "relay-1", Role: api.RoleRelay, State: api.TaskDownloading, Have: have}
	}
	client := api.Assignment{Host: "c1", Role: api.RoleClient, State: api.TaskWaiting,
		Error: "metainfo not yet known: waiting for the relay"}
	active := api.Distribution{State: api.DistActive, Size: 1000}
	tests := []struct {
		name string
		d    api.Distribution
		a    api.Assignment
		want string
	}{
		{"moving", active, api.Assignment{Role: api.RoleClient, State: api.TaskDownloading, Have: 5}, ""},
		{"the host's word", active, api.Assignment{Role: api.RoleClient, State: api.TaskDownloading, Have: 5,
			Error: "waiting for origin quota: origin byte budget spent until 00:00"},
			"waiting for origin quota: origin byte budget spent until 00:00"},
		{"relay below the default threshold", func() api.Distribution {
			d := active
			d.Assignments = []api.Assignment{relay(12), client}
			return d
		}(), client, "waiting for the relay's start threshold: relay-1 holds 1.2% of the 3.0% it serves from"},
		{"relay below the push's threshold", func() api.Distribution {
			d := active
			d.Settings = &api.Settings{StartThreshold: 0.5}
			d.Assignments = []api.Assignment{relay(400), client}
			return d
		}(), client, "waiting for the relay's start threshold: relay-1 holds 40.0% of the 50.0% it serves from"},
		{"relay past its threshold", func() api.Distribution {
			d := active
			d.Assignments = []api.Assignment{relay(400), client}
			return d
		}(), client, client.Error},
		{"relay held back by its origin", func() api.Distribution {
			d := active
			r := relay(400)
			r.Error = "waiting for origin quota: origin byte budget spent until 00:00"
			c := client
			c.Have = 400
			d.Assignments = []api.Assignment{r, c}
			return d
		}(), func() api.Assignment { c := client; c.Have = 400; return c }(),
			"waiting for relay relay-1: waiting for origin quota: origin byte budget spent until 00:00"},
		{"metainfo known: no threshold wait", func() api.Distribution {
			d := active
			d.InfoHash = "ab"
			d.Assignments = []api.Assignment{relay(12), client}
			return d
		}(), client, client.Error},
		{"cancelled under it", api.Distribution{State: api.DistCancelled}, api.Assignment{Role: api.RoleClient, State: api.TaskDownloading},
			"stopped: the distribution was cancelled"},
		{"failed under it", api.Distribution{State: api.DistFailed}, api.Assignment{Role: api.RoleRelay, State: api.TaskWaiting, Error: "no peers"},
			"stopped: the distribution failed"},
		{"done", active, api.Assignment{Role: api.RoleClient, State: api.TaskDone, ModeReason: "no bt peer for 2s"}, ""},
		{"failed is no stall", active, api.Assignment{Role: api.RoleClient, State: api.TaskFailed, Error: "disk full"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Stall(tc.d, tc.a); got != tc.want {
				t.Errorf("Stall = %q, want %q", got, tc.want)
			}
		})
	}
	if got := Failure(active, api.Assignment{State: api.TaskFailed, Error: "disk\x1b full"}); got != "disk? full" {
		t.Errorf("Failure = %q", got)
	}
}

func TestDistStall(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 30, 0, 0, time.UTC)
	d := api.Distribution{State: api.DistActive, Source: "http://origin:8080/f.img", InfoHash: "ab"}
	spent := api.OriginStatus{OriginPolicy: api.OriginPolicy{Origin: "http://origin:8080", MaxBytes: 100}, Spent: 100,
		WindowEnd: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	busy := api.OriginStatus{OriginPolicy: api.OriginPolicy{Origin: "http://origin:8080", MaxRate: 10}, Waiting: []string{"r1", "r2"}}
	other := api.OriginStatus{OriginPolicy: api.OriginPolicy{Origin: "http://elsewhere", MaxBytes: 1}, Spent: 1}
	noMeta := d
	noMeta.InfoHash = ""
	ended := d
	ended.State = api.DistFailed
	tests := []struct {
		name    string
		d       api.Distribution
		origins []api.OriginStatus
		moving  bool
		want    string
	}{
		{"budget spent", d, []api.OriginStatus{other, spent}, false, "waiting for origin quota: origin byte budget spent until 2026-11-23 00:00"},
		{"others hold the share", d, []api.OriginStatus{busy}, false, "waiting for origin quota: 2 holders wait for a share"},
		{"moving says nothing", d, []api.OriginStatus{spent}, true, ""},
		{"another origin's budget", d, []api.OriginStatus{other}, false, ""},
		{"metainfo unknown", noMeta, nil, false, "metainfo not yet known: the relay is still hashing the source"},
		{"ended", ended, []api.OriginStatus{spent}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := DistStall(tc.d, tc.origins, tc.moving, now); got != tc.want {
				t.Errorf("DistStall = %q, want %q", got, tc.want)
			}
		})
	}
	same := spent
	same.WindowEnd = now.Add(time.Hour)
	if got := DistStall(d, []api.OriginStatus{same}, false, now); got != "waiting for origin quota: origin byte budget spent until 11:30" {
		t.Errorf("today's end: %q", got)
	}
}

func TestCommonStall(t *testing.T) {
	t.Parallel()
	d := api.Distribution{State: api.DistActive, InfoHash: "ab", Assignments: []api.Assignment{
		{Role: api.RoleRelay, State: api.TaskWaiting, Error: "no bytes from the origin for 9s"},
		{Role: api.RoleClient, State: api.TaskWaiting, Error: "no peers"},
		{Role: api.RoleClient, State: api.TaskWaiting, Error: "no peers"},
		{Role: api.RoleClient, State: api.TaskDownloading, Error: "no new bytes for 4s from 2 peers"},
		{Role: api.RoleClient, State: api.TaskDownloading},
		{Role: api.RoleClient, State: api.TaskDone},
	}}
	r, n, active := CommonStall(d)
	if r != "no peers" || n != 2 || active != 4 {
		t.Fatalf("CommonStall = %q, %d of %d; want no peers, 2 of 4", r, n, active)
	}
	if got := StallLine(r, n, active); got != "2 of 4 hosts: no peers" {
		t.Errorf("stallLine = %q", got)
	}
}

// The bandwidth gauge shows what the hosts report taking from the origin (its spent bytes over
// time), not only what leases hold: without a cap that is 0 while the origin serves.
func TestMeasuredOriginRate(t *testing.T) {
	t.Parallel()
	f := newFiller()
	t0 := time.Unix(1000, 0)
	origin := func(spent int64) []api.OriginStatus {
		return []api.OriginStatus{{OriginPolicy: api.OriginPolicy{Origin: "http://o"}, Spent: spent}}
	}
	var got []float64
	// 4 MiB/s accounted every 5 s (one renewal each), read every second.
	for s := 0; s <= 20; s++ {
		os := origin(int64(s/5) * 5 * 4 * mib)
		ls := limitsOf(os)
		f.measure(ls, os, t0.Add(time.Duration(s)*time.Second))
		if ls[1].Name != "bandwidth" || ls[1].Used != 0 {
			t.Fatalf("limits %+v", ls)
		}
		got = append(got, ls[1].Measured)
	}
	for i, g := range got[:5] {
		if g != -1 {
			t.Errorf("second %d: %v, want -1 before one renewal period is in view", i, g)
		}
	}
	for i, g := range got[10:] {
		if g < 2.5*mib || g > 5.5*mib {
			t.Errorf("second %d: %v, want about 4 MiB/s (all: %v)", i+10, g, got)
		}
	}
	if text := limitText(Limit{Unit: UnitRate, Measured: 4 * mib}); text != "4.0M/s (no cap)" {
		t.Errorf("no cap: %q", text)
	}
	if text := limitText(Limit{Unit: UnitRate, Used: 8 * mib, Cap: 10 * mib, Measured: 4 * mib}); text != "4.0M/s, leased 8.0M/s of 10M/s" {
		t.Errorf("with a cap: %q", text)
	}
}

// Hosts and relays of an ended distribution never show a stale "downloading", and a failed
// host's error is its failure, an active host's its stall.
func TestFillEndedAndStalled(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	as := []api.Assignment{
		{ID: "d/r/relay", Host: "r", Role: api.RoleRelay, State: api.TaskDownloading, Have: 10},
		{ID: "d/a/client", Host: "a", Role: api.RoleClient, State: api.TaskDownloading, Have: 10},
		{ID: "d/b/client", Host: "b", Role: api.RoleClient, State: api.TaskFailed, Error: "disk full"},
	}
	for _, tc := range []struct {
		state api.DistState
		want  api.TaskState
	}{{api.DistCancelled, api.TaskCancelled}, {api.DistFailed, api.TaskFailed}} {
		sw := newFiller().swarm(api.Distribution{ID: "d", State: tc.state, Size: 100, Targets: 2, Assignments: as}, now)
		if sw.Relays[0].State != tc.want || sw.Hosts[0].State != tc.want || sw.Hosts[1].State != api.TaskFailed {
			t.Errorf("%s: relay %s, hosts %s %s; want %s", tc.state, sw.Relays[0].State, sw.Hosts[0].State, sw.Hosts[1].State, tc.want)
		}
		if sw.Hosts[1].Error != "disk full" || sw.Hosts[1].Stall != "" {
			t.Errorf("%s: failed host %+v", tc.state, sw.Hosts[1])
		}
	}
	stalled := append([]api.Assignment(nil), as...)
	stalled[1].Error = "no peers: nobody holds pieces to fetch yet"
	stalled[1].State = api.TaskWaiting
	sw := newFiller().swarm(api.Distribution{ID: "d", State: api.DistActive, InfoHash: "ab", Size: 100, Targets: 2, Assignments: stalled}, now)
	if h := sw.Hosts[0]; h.State != api.TaskWaiting || h.Stall != stalled[1].Error || h.Error != "" {
		t.Errorf("stalled host %+v", h)
	}
	if sw.Dist.Reason != "no peers: nobody holds pieces to fetch yet" {
		t.Errorf("distribution reason %q, want its one active host's", sw.Dist.Reason)
	}
	if out := Render(Snapshot{At: now, Swarm: sw}, 100, false); !strings.Contains(out, "a waiting: no peers") {
		t.Errorf("the swarm view does not say why a is waiting:\n%s", out)
	}
}
