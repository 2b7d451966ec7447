package controller_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
)

func events(t *testing.T, e *env, dist string) []store.Event {
	t.Helper()
	var evs []store.Event
	if err := e.admin.Do(ctxT(t), "GET", "/v1/events?dist="+dist+"&limit=50", nil, &evs); err != nil {
		t.Fatal(err)
	}
	return evs
}

func hasEvent(evs []store.Event, kind, part string) bool {
	for _, ev := range evs {
		if ev.Kind == kind && strings.Contains(ev.Msg, part) {
			return true
		}
	}
	return false
}

func TestReportDrivesStateToComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1", "c2")
	id1, id2 := api.AssignmentID(d.ID, "c1", api.RoleClient), api.AssignmentID(d.ID, "c2", api.RoleClient)
	relay := api.AssignmentID(d.ID, "relay-a", api.RoleRelay)

	// The relay working does not make the distribution active: targets count.
	e.report("relay-a", api.TaskReport{ID: relay, State: api.TaskDownloading, Have: 100})
	if got := e.dist(d.ID); got.State != api.DistPending {
		t.Fatalf("state %s after a relay report, want pending", got.State)
	}

	e.report("c1", api.TaskReport{ID: id1, State: api.TaskDownloading, Have: 1000, BytesBT: 600, BytesHTTPRelay: 400, Peers: 3})
	got := e.dist(d.ID)
	if got.State != api.DistActive || got.Have != 1000 || got.BytesBT != 600 || got.BytesHTTPRelay != 400 {
		t.Fatalf("after first progress: %+v", got)
	}

	e.clock.Advance(time.Minute)
	e.report("c1", api.TaskReport{ID: id1, State: api.TaskDone, Have: fileSize, BytesBT: fileSize})
	e.report("c2", api.TaskReport{ID: id2, State: api.TaskSeeding, Have: fileSize, BytesHTTPOrigin: fileSize})
	got = e.dist(d.ID)
	if got.State != api.DistComplete || got.Done != 2 || got.Failed != 0 || got.Have != 2*fileSize {
		t.Fatalf("after both done: %+v", got)
	}
	if !got.EndedAt.Equal(e.clock.Now()) {
		t.Errorf("ended at %v, want %v", got.EndedAt, e.clock.Now())
	}
	evs := events(t, e, d.ID)
	if !hasEvent(evs, "state", "active") || !hasEvent(evs, "state", "complete") {
		t.Errorf("events %+v lack the state changes", evs)
	}

	// Finished clients keep their task (and seed) for Keep, then it drops out.
	w, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil || len(w.Tasks) != 1 {
		t.Fatalf("task of a complete distribution: %+v %v", w.Tasks, err)
	}
	e.clock.Advance(2 * time.Hour)
	w, err = e.host.Watch(ctxT(t), "c1", "")
	if err != nil || len(w.Tasks) != 0 {
		t.Fatalf("task still listed after Keep: %+v %v", w.Tasks, err)
	}
}

func TestReportPartialWhenOneFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1", "c2")
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskDone, Have: fileSize})
	e.report("c2", api.TaskReport{ID: api.AssignmentID(d.ID, "c2", api.RoleClient), State: api.TaskFailed, Error: "disk full: free space on /srv"})
	got := e.dist(d.ID)
	if got.State != api.DistPartial || got.Done != 1 || got.Failed != 1 || got.EndedAt.IsZero() {
		t.Fatalf("after one failure: %+v", got)
	}
	evs := events(t, e, d.ID)
	if !hasEvent(evs, "failed", "disk full") || !hasEvent(evs, "state", "partial") {
		t.Errorf("events %+v", evs)
	}
}

func TestReportFailedWhenNoneDone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1")
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskFailed, Error: "boom"})
	if got := e.dist(d.ID); got.State != api.DistFailed {
		t.Fatalf("state %s, want failed", got.State)
	}
	// A failed distribution leaves the hosts' task lists at once.
	w, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil || len(w.Tasks) != 0 {
		t.Fatalf("tasks %+v %v", w.Tasks, err)
	}
}

func TestReportWakesWatchOnStateChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	held := holdSignal(e)
	d := e.create("c1")
	first, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil {
		t.Fatal(err)
	}
	out := heldWatch(t, e, held, "c1", first.Version)
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskFailed, Error: "boom"})
	select {
	case r := <-out:
		if r.err != nil || len(r.w.Tasks) != 0 {
			t.Fatalf("woken watch: %+v %v", r.w, r.err)
		}
	case <-time.After(answerWithin):
		t.Fatal("state change did not wake the watch")
	}
}

func TestReportRejectsUnknownState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1")
	err := e.host.Report(ctxT(t), api.Report{Host: "c1", Tasks: []api.TaskReport{
		{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: "exploded"},
	}})
	if status, code := statusCode(t, err); status != http.StatusBadRequest || code != api.CodeBadRequest {
		t.Fatalf("status %d code %q, want 400 bad_request", status, code)
	}
}
