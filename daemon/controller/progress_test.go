package controller_test

import (
	"fmt"
	"sync"
	"testing"

	"dist/core/api"
)

// TestConcurrentStateChangesAllStored sends many hosts' state changes at once: they are written
// together, and each report answers only once its own change is stored.
func TestConcurrentStateChangesAllStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("relay-a", "a", api.RoleRelay)
	const n = 40
	var names []string
	for i := range n {
		name := fmt.Sprintf("h%02d", i)
		e.register(name, "a", api.RoleClient)
		names = append(names, name)
	}
	d := e.create("all")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, name := range names {
		st := api.TaskDone
		if i%2 == 1 {
			st = api.TaskFailed
		}
		wg.Go(func() {
			errs <- e.host.Report(ctxT(t), api.Report{Host: name, Tasks: []api.TaskReport{
				{ID: api.AssignmentID(d.ID, name, api.RoleClient), State: st, Have: 7}}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := e.dist(d.ID)
	if got.Done != n/2 || got.Failed != n/2 || got.State != api.DistPartial {
		t.Errorf("after %d concurrent reports: %s, done %d, failed %d; want partial, %d, %d", n, got.State, got.Done, got.Failed, n/2, n/2)
	}
}
