package controller_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

// TestShedsBeyondLimitAndReportsArrive holds one report in flight at a limit of one: the next
// report and a peers ask are turned away with 429 and a Retry-After, and a host that honours it
// sends its latest state once admitted: nothing is lost.
func TestShedsBeyondLimitAndReportsArrive(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *controller.Options) { o.MaxInFlight, o.RetryAfter = 1, time.Second })
	e.fleet()
	d := e.create("c1", "c2")
	// The first report and the first peers ask are held in flight (each kind has its own limit).
	admitted, release := make(chan struct{}, 2), make(chan struct{})
	var onceReport, oncePeers sync.Once
	controller.SetOnAdmit(e.srv, func(r *http.Request) {
		hold := func() {
			admitted <- struct{}{}
			<-release
		}
		if r.Method == http.MethodPost {
			onceReport.Do(hold)
		} else {
			oncePeers.Do(hold)
		}
	})
	held := make(chan error, 2)
	go func() {
		held <- e.host.Report(ctxT(t), api.Report{Host: "c2", Tasks: []api.TaskReport{
			{ID: api.AssignmentID(d.ID, "c2", api.RoleClient), State: api.TaskDownloading, Have: 1}}})
	}()
	go func() {
		_, err := e.host.Peers(ctxT(t), d.ID, "c2")
		held <- err
	}()
	for range 2 {
		select {
		case <-admitted:
		case <-time.After(answerWithin):
			t.Fatal("the first report and peers ask were not admitted")
		}
	}

	for _, c := range []struct{ method, path string }{
		{http.MethodPost, "/v1/report"},
		{http.MethodGet, "/v1/distributions/" + d.ID + "/peers?host=c1"},
	} {
		req, err := http.NewRequestWithContext(ctxT(t), c.method, e.url+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+hostToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
			t.Errorf("%s %s beyond the limit: %d, Retry-After %q; want 429, 1", c.method, c.path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}

	// The host's state moves on while it waits: the report it finally sends is the latest.
	id := api.AssignmentID(d.ID, "c1", api.RoleClient)
	var built atomic.Int32
	state := func() api.Report {
		st := api.TaskDownloading
		if built.Add(1) > 1 {
			st = api.TaskDone // built again: the first was turned away
			select {
			case <-release:
			default:
				close(release)
			}
		}
		return api.Report{Host: "c1", Tasks: []api.TaskReport{{ID: id, State: st, Have: fileSize}}}
	}
	if err := e.host.ReportFresh(ctxT(t), state); err != nil {
		t.Fatalf("report with retries: %v", err)
	}
	for range 2 {
		if err := <-held; err != nil {
			t.Fatalf("held call: %v", err)
		}
	}
	if built.Load() < 2 {
		t.Fatalf("the report was built %d times, want a retry after the 429", built.Load())
	}
	got := states(e.dist(d.ID))
	if got["c1/client"] != api.TaskDone || got["c2/client"] != api.TaskDownloading {
		t.Errorf("final states %v: want c1 done, c2 downloading", got)
	}
}

// A call beyond the limit waits for a place a while before it is turned away: one freed within
// QueueWait admits it, with no 429 for the host to sit out.
func TestShedQueuesBriefly(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *controller.Options) { o.MaxInFlight, o.QueueWait = 1, time.Minute })
	e.fleet()
	d := e.create("c1", "c2")
	admitted, release := make(chan struct{}, 2), make(chan struct{})
	var once sync.Once
	controller.SetOnAdmit(e.srv, func(*http.Request) {
		admitted <- struct{}{}
		once.Do(func() { <-release }) // the first report is held in flight
	})
	queued := make(chan struct{}, 1)
	controller.SetOnQueue(e.srv, func() { queued <- struct{}{} })
	report := func(host string) <-chan error {
		out := make(chan error, 1)
		go func() {
			out <- e.host.Report(ctxT(t), api.Report{Host: host, Tasks: []api.TaskReport{
				{ID: api.AssignmentID(d.ID, host, api.RoleClient), State: api.TaskDownloading, Have: 1}}})
		}()
		return out
	}
	first := report("c1")
	select {
	case <-admitted:
	case <-time.After(answerWithin):
		t.Fatal("the first report was not admitted")
	}
	second := report("c2")
	select {
	case <-queued:
	case err := <-second:
		t.Fatalf("the second report answered (%v) instead of waiting for a place", err)
	case <-time.After(answerWithin):
		t.Fatal("the second report did not wait for a place")
	}
	close(release)
	for name, ch := range map[string]<-chan error{"first": first, "second": second} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("%s report: %v, want it stored without a 429", name, err)
			}
		case <-time.After(answerWithin):
			t.Fatalf("%s report did not answer", name)
		}
	}
	if got := states(e.dist(d.ID)); got["c1/client"] != api.TaskDownloading || got["c2/client"] != api.TaskDownloading {
		t.Errorf("states %v, want both downloading", got)
	}
}
