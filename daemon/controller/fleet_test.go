package controller_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

func (e *env) createWith(req api.CreateDistribution) api.Distribution {
	e.t.Helper()
	if req.Source == "" {
		req.Source = "http://origin.test/files/image.iso"
	}
	d, err := e.admin.CreateDistribution(ctxT(e.t), req)
	if err != nil {
		e.t.Fatalf("create %+v: %v", req, err)
	}
	return d
}

func states(d api.Distribution) map[string]api.TaskState {
	out := map[string]api.TaskState{}
	for _, a := range d.Assignments {
		out[a.Host+"/"+string(a.Role)] = a.State
	}
	return out
}

func TestDeadlineEndsPartial(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.createWith(api.CreateDistribution{To: []string{"all"}, Deadline: e.clock.Now().Add(time.Minute), Priority: 5})
	if !d.Deadline.Equal(e.clock.Now().Add(time.Minute)) || d.Priority != 5 {
		t.Fatalf("created with deadline %v priority %d", d.Deadline, d.Priority)
	}
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskDone, Have: fileSize})
	e.report("c2", api.TaskReport{ID: api.AssignmentID(d.ID, "c2", api.RoleClient), State: api.TaskDownloading, Have: 10})

	controller.Upkeep(e.srv, ctxT(t)) // before the deadline: nothing ends
	if got := e.dist(d.ID); got.State != api.DistActive {
		t.Fatalf("state before the deadline = %s, want active", got.State)
	}
	e.clock.Advance(2 * time.Minute)
	controller.Upkeep(e.srv, ctxT(t))
	got := e.dist(d.ID)
	if got.State != api.DistPartial || got.Done != 1 || got.Failed != 3 {
		t.Fatalf("after the deadline: state %s, done %d, failed %d; want partial, 1, 3", got.State, got.Done, got.Failed)
	}
	for _, a := range got.Assignments {
		if a.Role == api.RoleClient && a.Host != "c1" && !strings.Contains(a.Error, "deadline") {
			t.Errorf("%s failed with %q, want the deadline named", a.Host, a.Error)
		}
	}
	// A host still working reports on: the distribution stays ended.
	e.report("c2", api.TaskReport{ID: api.AssignmentID(d.ID, "c2", api.RoleClient), State: api.TaskDone, Have: fileSize})
	if got := e.dist(d.ID); got.State != api.DistPartial {
		t.Fatalf("a late report moved the distribution to %s", got.State)
	}
	// A deadline in the past and a priority out of range are refused.
	for _, req := range []api.CreateDistribution{
		{Source: "http://origin.test/x.iso", To: []string{"all"}, Deadline: e.clock.Now().Add(-time.Second)},
		{Source: "http://origin.test/x.iso", To: []string{"all"}, Priority: 1000},
	} {
		if _, err := e.admin.CreateDistribution(ctxT(t), req); err == nil {
			t.Errorf("create %+v succeeded, want a bad request", req)
		} else if st, code := statusCode(t, err); st != 400 || code != api.CodeBadRequest {
			t.Errorf("create %+v: %d %s, want 400 bad_request", req, st, code)
		}
	}
}

func TestLateHostJoins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("site=a")
	e.register("c5", "a", api.RoleClient)     // matches: joins
	e.register("c6", "b", api.RoleClient)     // does not match
	e.register("relay-c", "a", api.RoleRelay) // matches, but is no client
	e.register("c5", "a", api.RoleClient)     // registering again adds nothing
	got := e.dist(d.ID)
	st := states(got)
	if st["c5/client"] != api.TaskPending || got.Targets != 4 {
		t.Fatalf("after c5 registered: targets %d, states %v; want c5 pending among 4", got.Targets, st)
	}
	if _, ok := st["c6/client"]; ok {
		t.Error("c6 (site b) joined a push to site=a")
	}
	if _, ok := st["relay-c/client"]; ok {
		t.Error("a relay-only host joined as a client")
	}
	w, err := e.host.Watch(ctxT(t), "c5", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Tasks) != 1 || w.Tasks[0].ID != api.AssignmentID(d.ID, "c5", api.RoleClient) {
		t.Fatalf("c5's tasks = %+v, want its client task", w.Tasks)
	}
	// Once the distribution has ended, a new host no longer joins.
	for _, c := range []string{"c1", "c2", "c3", "c5"} {
		e.report(c, api.TaskReport{ID: api.AssignmentID(d.ID, c, api.RoleClient), State: api.TaskDone, Have: fileSize})
	}
	if got := e.dist(d.ID); got.State != api.DistComplete {
		t.Fatalf("state = %s, want complete", got.State)
	}
	e.register("c7", "a", api.RoleClient)
	if _, ok := states(e.dist(d.ID))["c7/client"]; ok {
		t.Error("c7 joined a complete distribution")
	}
}

func TestFailedRelayReplaced(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	e.register("relay-a2", "a", api.RoleRelay)
	d := e.create("all") // 4 targets: one relay, in site a where most targets are
	relayOf := func(d api.Distribution) []string {
		var out []string
		for _, a := range d.Assignments {
			if a.Role == api.RoleRelay && a.State != api.TaskFailed {
				out = append(out, a.Host)
			}
		}
		return out
	}
	if got := relayOf(e.dist(d.ID)); !slices.Equal(got, []string{"relay-a"}) {
		t.Fatalf("relays = %v, want [relay-a]", got)
	}
	peers := func(host string) []api.Peer {
		ps, err := e.host.Peers(ctxT(t), d.ID, host)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if ps := peers("c4"); len(ps) == 0 || ps[0].Host != "relay-a" {
		t.Fatalf("c4's peers = %+v, want relay-a first", ps)
	}

	// relay-a fails: the other relay of site a takes over and the clients are pointed at it.
	e.report("relay-a", api.TaskReport{ID: api.AssignmentID(d.ID, "relay-a", api.RoleRelay), State: api.TaskFailed, Error: "disk full"})
	controller.Upkeep(e.srv, ctxT(t))
	if got := relayOf(e.dist(d.ID)); !slices.Equal(got, []string{"relay-a2"}) {
		t.Fatalf("relays after the failure = %v, want [relay-a2]", got)
	}
	for _, c := range []string{"c1", "c4"} {
		ps := peers(c)
		if len(ps) == 0 || ps[0].Host != "relay-a2" || !ps[0].Relay {
			t.Errorf("%s's peers = %+v, want relay-a2 first", c, ps)
		}
		for _, p := range ps {
			if p.Host == "relay-a" {
				t.Errorf("%s is still handed the failed relay", c)
			}
		}
	}
	// Another pass replaces nothing more.
	controller.Upkeep(e.srv, ctxT(t))
	if n := len(e.dist(d.ID).Assignments); n != 6 {
		t.Fatalf("assignments after a second pass = %d, want 6 (4 clients, 2 relays)", n)
	}

	// relay-a2 goes silent past the online window while the others keep reporting: relay-b replaces it.
	e.clock.Advance(controller.DefaultOnlineWindow + time.Second)
	for _, h := range []string{"relay-a", "relay-b", "c1", "c2", "c3", "c4"} {
		e.report(h)
	}
	controller.Upkeep(e.srv, ctxT(t))
	got := e.dist(d.ID)
	if r := relayOf(got); !slices.Equal(r, []string{"relay-b"}) {
		t.Fatalf("relays after relay-a2 went offline = %v, want [relay-b]", r)
	}
	for _, a := range got.Assignments {
		if a.Host == "relay-a2" && !strings.Contains(a.Error, "offline") {
			t.Errorf("relay-a2 ended with %q, want offline named", a.Error)
		}
	}
	evs, err := e.st.Events(ctxT(t), d.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if ev.Kind == "relay-replaced" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("relay-replaced events = %d, want 2", n)
	}
}
