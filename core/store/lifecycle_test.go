package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"dist/core/api"
)

func testLifecycleRoundTrip(t *testing.T, b backend) {
	s, ctx := openTest(t, b), context.Background()
	mustCreate(t, s, dist("d1", t0, api.DistPending), nil)
	mustCreate(t, s, dist("d2", t0, api.DistPending), nil)
	dl := t0.Add(time.Hour)
	if err := s.SetLifecycle(ctx, "d1", dl, 7); err != nil {
		t.Fatal(err)
	}
	lcs, err := s.Lifecycles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := lcs["d1"]; !got.Deadline.Equal(dl) || got.Priority != 7 {
		t.Errorf("lifecycle of d1 = %+v, want deadline %v priority 7", got, dl)
	}
	if got, ok := lcs["d2"]; ok {
		t.Errorf("d2 was never given a lifecycle, got %+v", got)
	}
	if err := s.SetLifecycle(ctx, "nope", dl, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetLifecycle of an unknown id: %v, want ErrNotFound", err)
	}
}

func testAddAndEndAssignments(t *testing.T, b backend) {
	s, ctx := openTest(t, b), context.Background()
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, asg("d1", "c1", api.RoleClient, api.TaskDone))
	added, err := s.AddAssignments(ctx, "d1", []api.Assignment{
		{Host: "c1", Role: api.RoleClient}, // exists: left alone
		{Host: "c2", Role: api.RoleClient},
		{Host: "r2", Role: api.RoleRelay},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d1/c2/client", "d1/r2/relay"}; !slices.Equal(added, want) {
		t.Fatalf("added %v, want %v", added, want)
	}
	as, _ := s.Assignments(ctx, "d1")
	states := map[string]api.TaskState{}
	for _, a := range as {
		states[a.ID] = a.State
	}
	if states["d1/c1/client"] != api.TaskDone || states["d1/c2/client"] != api.TaskPending {
		t.Fatalf("states after add: %v", states)
	}
	if _, err := s.AddAssignments(ctx, "nope", []api.Assignment{{Host: "x", Role: api.RoleClient}}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddAssignments to an unknown distribution: %v, want ErrNotFound", err)
	}
	// A done assignment is never ended; an unfinished one is, once.
	if ok, err := s.EndAssignment(ctx, "d1/c1/client", api.TaskFailed, "late", t0); err != nil || ok {
		t.Errorf("EndAssignment of a done one = %v, %v; want false", ok, err)
	}
	if ok, err := s.EndAssignment(ctx, "d1/c2/client", api.TaskFailed, "late", t0); err != nil || !ok {
		t.Errorf("EndAssignment of a pending one = %v, %v; want true", ok, err)
	}
	if ok, _ := s.EndAssignment(ctx, "d1/c2/client", api.TaskFailed, "again", t0); ok {
		t.Error("EndAssignment ended a failed assignment again")
	}
	as, _ = s.Assignments(ctx, "d1")
	for _, a := range as {
		if a.ID == "d1/c2/client" && (a.State != api.TaskFailed || a.Error != "late") {
			t.Errorf("ended assignment = %s %q, want failed \"late\"", a.State, a.Error)
		}
	}
}

func testReplaceRelay(t *testing.T, b backend) {
	s, ctx := openTest(t, b), context.Background()
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, asg("d1", "r1", api.RoleRelay, api.TaskDownloading))
	ev := Event{DistID: "d1", Host: "r1", Kind: "relay-replaced", Msg: "r1 replaced by r2"}
	if err := s.ReplaceRelay(ctx, "d1", "r1", "relay lost: offline", "r2", t0, ev); err != nil {
		t.Fatal(err)
	}
	as, _ := s.Assignments(ctx, "d1")
	got := map[string]string{}
	for _, a := range as {
		got[a.Host] = string(a.State) + " " + a.Error
	}
	if got["r1"] != "failed relay lost: offline" || got["r2"] != "pending " {
		t.Fatalf("after replace: %v", got)
	}
	evs, _ := s.Events(ctx, "d1", 0)
	if len(evs) != 1 || evs[0].Kind != "relay-replaced" {
		t.Fatalf("events = %+v", evs)
	}
	// Replacing by a host that relays already changes nothing, event included.
	if err := s.ReplaceRelay(ctx, "d1", "r1", "again", "r2", t0, ev); err == nil {
		t.Fatal("replacing by an existing relay succeeded")
	}
	if evs, _ := s.Events(ctx, "d1", 0); len(evs) != 1 {
		t.Fatalf("a refused replacement left %d events", len(evs))
	}
}

func testReopenAssignment(t *testing.T, b backend) {
	s, ctx := openTest(t, b), context.Background()
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, asg("d1", "r1", api.RoleRelay, api.TaskDownloading))
	ev := Event{DistID: "d1", Host: "r1", Kind: "relay-reused", Msg: "r1 is back"}
	if ok, err := s.ReopenAssignment(ctx, "d1/r1/relay", t0, ev); err != nil || ok {
		t.Fatalf("reopen of a live assignment = %v, %v; want false", ok, err)
	}
	if _, err := s.EndAssignment(ctx, "d1/r1/relay", api.TaskFailed, "relay lost: offline", t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ReopenAssignment(ctx, "d1/r1/relay", t0.Add(time.Second), ev); err != nil || !ok {
		t.Fatalf("reopen of a failed assignment = %v, %v; want true", ok, err)
	}
	as, _ := s.Assignments(ctx, "d1")
	if len(as) != 1 || as[0].State != api.TaskPending || as[0].Error != "" || !as[0].UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("reopened assignment = %+v", as)
	}
	if evs, _ := s.Events(ctx, "d1", 0); len(evs) != 1 || evs[0].Kind != "relay-reused" {
		t.Fatalf("events = %+v, want the one relay-reused", evs)
	}
}
