package controller_test

import (
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

func (e *env) events(distID, kind string) []string {
	e.t.Helper()
	evs, err := e.st.Events(ctxT(e.t), distID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Kind == kind {
			out = append(out, ev.Msg)
		}
	}
	return out
}

func (e *env) assignment(d api.Distribution, host string, role api.Role) api.Assignment {
	e.t.Helper()
	id := api.AssignmentID(d.ID, host, role)
	for _, a := range e.dist(d.ID).Assignments {
		if a.ID == id {
			return a
		}
	}
	e.t.Fatalf("no assignment %s", id)
	return api.Assignment{}
}

// task answers host's task id from its watch, failing when it is not listed.
func (e *env) task(host, id string) api.Task {
	e.t.Helper()
	w, err := e.host.Watch(ctxT(e.t), host, "")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, t := range w.Tasks {
		if t.ID == id {
			return t
		}
	}
	e.t.Fatalf("%s's watch does not list %s: %+v", host, id, w.Tasks)
	return api.Task{}
}

// TestSoleRelayBackIsReused: the only relay goes offline for longer than the online window right
// after the push. It keeps its task (no cancel), so once back it carries on, and the distribution
// does not fail while it serves.
func TestSoleRelayBackIsReused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	d := e.create("all")
	relayID := api.AssignmentID(d.ID, "relay-a", api.RoleRelay)

	e.clock.Advance(controller.DefaultOnlineWindow + time.Second)
	e.report("c1")
	e.report("c2")
	controller.Upkeep(e.srv, ctxT(t))
	if a := e.assignment(d, "relay-a", api.RoleRelay); a.State == api.TaskFailed {
		t.Fatalf("the sole relay was failed while offline (%q): it would never get its task back", a.Error)
	}
	if evs := e.events(d.ID, "no-relay"); len(evs) != 1 || !strings.Contains(evs[0], "relay relay-a offline since") {
		t.Fatalf("no-relay events = %q, want one naming relay-a offline", evs)
	}

	// The relay's daemon restarts with nothing in memory: it registers, watches, and finds its task.
	e.register("relay-a", "a", api.RoleRelay)
	if tk := e.task("relay-a", relayID); tk.Cancel {
		t.Fatal("the relay's task is cancelled: a relay that comes back is not re-used")
	}
	// It serves past the bound: nothing fails.
	for range 10 {
		e.clock.Advance(30 * time.Second)
		e.report("relay-a", api.TaskReport{ID: relayID, State: api.TaskDownloading, Have: 1000})
		e.report("c1")
		e.report("c2")
		controller.Upkeep(e.srv, ctxT(t))
	}
	got := e.dist(d.ID)
	if got.State != api.DistPending && got.State != api.DistActive {
		t.Fatalf("distribution ended %s with its relay serving", got.State)
	}
	if a := e.assignment(d, "relay-a", api.RoleRelay); a.State != api.TaskDownloading {
		t.Fatalf("relay state = %s %q, want downloading", a.State, a.Error)
	}
}

// TestNoRelayBoundFails: with no working relay and no progress for NoRelayTimeout, the
// distribution fails with the reason; bytes arriving restart the wait; late reports change nothing.
func TestNoRelayBoundFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	d := e.create("all")
	c1 := api.AssignmentID(d.ID, "c1", api.RoleClient)
	pass := func(step time.Duration, tasks ...api.TaskReport) api.Distribution {
		e.clock.Advance(step)
		e.report("c1", tasks...)
		e.report("c2")
		controller.Upkeep(e.srv, ctxT(t))
		return e.dist(d.ID)
	}
	pass(controller.DefaultOnlineWindow + time.Second) // the wait starts
	// Bytes from the swarm restart it.
	pass(time.Minute, api.TaskReport{ID: c1, State: api.TaskDownloading, Have: 4096})
	if got := pass(time.Minute + 30*time.Second); got.State != api.DistActive {
		t.Fatalf("state %s 90 s after the last progress, want active", got.State)
	}
	got := pass(31 * time.Second)
	if got.State != api.DistFailed {
		t.Fatalf("state %s after more than 2 min without a relay, want failed", got.State)
	}
	want := "no relay has served distribution " + d.ID + " for 2m0s: relay relay-a offline since"
	for _, a := range got.Assignments {
		if !strings.Contains(a.Error, want) {
			t.Errorf("%s ended %s %q, want %q", a.ID, a.State, a.Error, want)
		}
	}
	if evs := e.events(d.ID, "failed"); len(evs) != 1 || !strings.Contains(evs[0], want) {
		t.Errorf("failed events = %q, want one with the reason", evs)
	}
	// A client still working reports on: the distribution stays failed.
	e.report("c2", api.TaskReport{ID: api.AssignmentID(d.ID, "c2", api.RoleClient), State: api.TaskDownloading, Have: 10})
	if got := e.dist(d.ID); got.State != api.DistFailed {
		t.Fatalf("a late report moved the distribution to %s", got.State)
	}
}

// TestNoRelayFallsBack: a relay that registers while the only one is offline takes over, and the
// bound is configurable.
func TestNoRelayFallsBack(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *controller.Options) { o.NoRelayTimeout = 5 * time.Minute })
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	d := e.create("all")
	for range 8 { // 4 min offline: inside the 5 min bound
		e.clock.Advance(30 * time.Second)
		e.report("c1")
		controller.Upkeep(e.srv, ctxT(t))
	}
	if got := e.dist(d.ID); got.State != api.DistPending {
		t.Fatalf("state %s inside the bound, want pending", got.State)
	}
	e.register("relay-b", "b", api.RoleRelay)
	controller.Upkeep(e.srv, ctxT(t))
	if a := e.assignment(d, "relay-b", api.RoleRelay); a.State != api.TaskPending {
		t.Fatalf("relay-b = %s, want pending", a.State)
	}
	if tk := e.task("relay-b", api.AssignmentID(d.ID, "relay-b", api.RoleRelay)); tk.Cancel {
		t.Fatal("relay-b's task is cancelled")
	}
	if evs := e.events(d.ID, "relay-replaced"); len(evs) != 1 {
		t.Fatalf("relay-replaced events = %q, want 1", evs)
	}
}

// TestReplacedRelayReused: a relay replaced while offline takes the task back when it returns and
// its replacement is gone in turn.
func TestReplacedRelayReused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("relay-a", "a", api.RoleRelay)
	e.register("relay-b", "b", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	d := e.create("all")
	if a := e.assignment(d, "relay-a", api.RoleRelay); a.State != api.TaskPending {
		t.Fatalf("relay-a = %s, want the chosen relay", a.State)
	}
	e.clock.Advance(controller.DefaultOnlineWindow + time.Second)
	for _, h := range []string{"relay-b", "c1", "c2"} {
		e.report(h)
	}
	controller.Upkeep(e.srv, ctxT(t))
	if a := e.assignment(d, "relay-a", api.RoleRelay); a.State != api.TaskFailed {
		t.Fatalf("relay-a = %s after going offline with a spare, want failed (replaced)", a.State)
	}
	// relay-a comes back, relay-b goes silent.
	e.clock.Advance(controller.DefaultOnlineWindow + time.Second)
	for _, h := range []string{"relay-a", "c1", "c2"} {
		e.report(h)
	}
	controller.Upkeep(e.srv, ctxT(t))
	if a := e.assignment(d, "relay-a", api.RoleRelay); a.State != api.TaskPending || a.Error != "" {
		t.Fatalf("relay-a = %s %q, want pending again", a.State, a.Error)
	}
	if tk := e.task("relay-a", api.AssignmentID(d.ID, "relay-a", api.RoleRelay)); tk.Cancel {
		t.Fatal("relay-a's task is still cancelled")
	}
	if evs := e.events(d.ID, "relay-reused"); len(evs) != 1 || !strings.Contains(evs[0], "takes over from relay-b") {
		t.Fatalf("relay-reused events = %q", evs)
	}
}

// TestSourceFinalFailsAtOnce: a relay failing with the origin's final answer fails the
// distribution with that answer, and no relay replaces it; without the code the relay is replaced.
func TestSourceFinalFailsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	relayOf := func(d api.Distribution) string {
		for _, a := range d.Assignments {
			if a.Role == api.RoleRelay {
				return a.Host
			}
		}
		t.Fatalf("distribution %s has no relay", d.ID)
		return ""
	}
	d := e.create("all")
	r := relayOf(e.dist(d.ID))
	const answer = "origin answered 410 Gone for http://origin.test/files/image.iso"
	e.report(r, api.TaskReport{ID: api.AssignmentID(d.ID, r, api.RoleRelay), State: api.TaskFailed,
		Error: answer, ErrorCode: api.CodeSourceFinal})
	got := e.dist(d.ID) // no upkeep: at once
	if got.State != api.DistFailed {
		t.Fatalf("state %s after the origin's final answer, want failed", got.State)
	}
	for _, a := range got.Assignments {
		if a.Role == api.RoleClient && !strings.Contains(a.Error, answer) {
			t.Errorf("%s failed with %q, want the origin's answer", a.Host, a.Error)
		}
	}
	controller.Upkeep(e.srv, ctxT(t))
	if evs := e.events(d.ID, "relay-replaced"); len(evs) != 0 {
		t.Fatalf("relay replaced after a final answer: %q", evs)
	}

	// Any other relay failure keeps the replacement.
	d2 := e.create("all")
	r2 := relayOf(e.dist(d2.ID))
	e.report(r2, api.TaskReport{ID: api.AssignmentID(d2.ID, r2, api.RoleRelay), State: api.TaskFailed, Error: "disk full"})
	controller.Upkeep(e.srv, ctxT(t))
	if got := e.dist(d2.ID); got.State != api.DistPending {
		t.Fatalf("state %s after a relay's own failure, want pending", got.State)
	}
	if evs := e.events(d2.ID, "relay-replaced"); len(evs) != 1 {
		t.Fatalf("relay-replaced events = %q, want 1", evs)
	}
}

// TestNoRelayNobodyWaiting: while every unfinished target is offline too, the bound does not run.
func TestNoRelayNobodyWaiting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	d := e.create("all")
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskDone, Have: fileSize})
	for range 10 { // 5 min: c1 is done and seeds, c2 and the relay are away
		e.clock.Advance(30 * time.Second)
		e.report("c1")
		controller.Upkeep(e.srv, ctxT(t))
	}
	if got := e.dist(d.ID); got.State != api.DistActive {
		t.Fatalf("state %s with nobody waiting for a relay, want active", got.State)
	}
	// c2 comes back: now the wait runs, and ends the distribution once past the bound.
	for range 6 {
		e.clock.Advance(30 * time.Second)
		e.report("c1")
		e.report("c2")
		controller.Upkeep(e.srv, ctxT(t))
	}
	if got := e.dist(d.ID); got.State != api.DistPartial {
		t.Fatalf("state %s 3 min after c2 came back with no relay, want partial", got.State)
	}
}
