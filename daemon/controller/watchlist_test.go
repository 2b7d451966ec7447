package controller_test

import (
	"reflect"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

// Watch answers are built in memory from the distributions' views; through a whole lifecycle
// (pushes, progress, a metainfo, a cancel, an end, the keep window passing, a late joiner) they
// stay exactly what the store answers.
func TestWatchAnswersFromMemoryMatchTheStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	hosts := []string{"relay-a", "relay-b", "c1", "c2", "c3", "c4", "c5"}
	check := func(step string) {
		t.Helper()
		for _, h := range hosts {
			mem, st, err := controller.HostTasksBoth(e.srv, h)
			if err != nil {
				t.Fatalf("%s: tasks of %s: %v", step, h, err)
			}
			if !reflect.DeepEqual(mem, st) {
				t.Fatalf("%s: tasks of %s from memory\n%+v\nfrom the store\n%+v", step, h, mem, st)
			}
		}
	}
	check("no push yet")
	d1 := e.create("c1", "c2")
	check("one push")
	d2 := e.create("c2", "c3", "c4")
	check("two pushes")
	client := func(d api.Distribution, h string) string { return api.AssignmentID(d.ID, h, api.RoleClient) }
	e.report("c1", api.TaskReport{ID: client(d1, "c1"), State: api.TaskDownloading, Have: 10})
	e.report("c2", api.TaskReport{ID: client(d1, "c2"), State: api.TaskWaiting},
		api.TaskReport{ID: client(d2, "c2"), State: api.TaskDownloading, Have: 5})
	check("progress")
	if err := e.host.PutMetainfo(ctxT(t), d1.ID, torrent(t, fileSize)); err != nil {
		t.Fatal(err)
	}
	check("metainfo")
	if _, err := e.admin.CancelDistribution(ctxT(t), d2.ID); err != nil {
		t.Fatal(err)
	}
	check("cancelled")
	for _, a := range e.dist(d1.ID).Assignments {
		st := api.TaskDone
		if a.Role == api.RoleRelay {
			st = api.TaskSeeding
		}
		e.report(a.Host, api.TaskReport{ID: a.ID, State: st, Have: fileSize})
	}
	if got := e.dist(d1.ID).State; got != api.DistComplete {
		t.Fatalf("distribution %s is %s, want complete", d1.ID, got)
	}
	check("complete")
	e.register("c5", "a", api.RoleClient)
	d3 := e.create("all")
	check("a push to all")
	e.clock.Advance(2 * time.Hour) // past Keep: the complete one drops out
	check("past the keep window")
	e.register("c6", "b", api.RoleClient) // joins the live push to all
	hosts = append(hosts, "c6")
	check("a late joiner")
	if mem, _, _ := controller.HostTasksBoth(e.srv, "c6"); len(mem) != 1 || mem[0].DistID != d3.ID {
		t.Fatalf("late joiner's tasks %+v, want the push to all", mem)
	}
}
