package controller_test

import (
	"net/http"
	"testing"

	"dist/core/api"
)

func TestCancelDistribution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1", "c2")
	id1 := api.AssignmentID(d.ID, "c1", api.RoleClient)
	e.report("c1", api.TaskReport{ID: id1, State: api.TaskDownloading, Have: 1000})

	w, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil || len(w.Tasks) != 1 {
		t.Fatalf("watch before cancel: %+v %v", w.Tasks, err)
	}
	// A watch held at the current version must wake when the distribution is cancelled.
	woke := make(chan api.Watch, 1)
	go func() {
		nw, _ := e.host.Watch(ctxT(t), "c1", w.Version)
		woke <- nw
	}()

	got, err := e.admin.CancelDistribution(ctxT(t), d.ID)
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if got.State != api.DistCancelled || !got.EndedAt.Equal(e.clock.Now()) {
		t.Fatalf("after cancel: state %s ended %v, want cancelled at %v", got.State, got.EndedAt, e.clock.Now())
	}
	if nw := <-woke; len(nw.Tasks) != 0 {
		t.Errorf("woken watch still lists %d tasks", len(nw.Tasks))
	}
	if !hasEvent(events(t, e, d.ID), "state", "cancelled") {
		t.Errorf("no cancelled event")
	}
	// Late reports do not undo an operator's decision; a second cancel is a no-op.
	e.report("c1", api.TaskReport{ID: id1, State: api.TaskDone, Have: fileSize})
	if again, err := e.admin.CancelDistribution(ctxT(t), d.ID); err != nil || again.State != api.DistCancelled {
		t.Fatalf("second cancel: %s %v", again.State, err)
	}
}

func TestCancelRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1")
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskDone, Have: fileSize})

	tests := []struct {
		name   string
		client *api.Client
		id     string
		status int
		code   string
	}{
		{"ended", e.admin, d.ID, http.StatusConflict, api.CodeConflict},
		{"unknown", e.admin, "nosuchid", http.StatusNotFound, api.CodeNotFound},
		{"host token", e.host, d.ID, http.StatusUnauthorized, api.CodeUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.CancelDistribution(ctxT(t), tc.id)
			if status, code := statusCode(t, err); status != tc.status || code != tc.code {
				t.Errorf("got %d %s, want %d %s", status, code, tc.status, tc.code)
			}
		})
	}
}
