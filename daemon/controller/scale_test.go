package controller_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

// countingStore counts the store calls the controller makes and the rows they read or write.
type countingStore struct {
	*store.SQLite
	mu    sync.Mutex
	calls map[string]int
	rows  int
}

func (c *countingStore) count(call string, rows int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[call]++
	c.rows += rows
}

// take answers the counts since the last take and starts afresh.
func (c *countingStore) take() (map[string]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, rows := c.calls, c.rows
	c.calls, c.rows = map[string]int{}, 0
	return calls, rows
}

func (c *countingStore) Hosts(ctx context.Context) ([]api.Host, error) {
	hs, err := c.SQLite.Hosts(ctx)
	c.count("Hosts", len(hs))
	return hs, err
}

func (c *countingStore) Host(ctx context.Context, name string) (api.Host, error) {
	c.count("Host", 1)
	return c.SQLite.Host(ctx, name)
}

func (c *countingStore) Distribution(ctx context.Context, id string) (api.Distribution, error) {
	d, err := c.SQLite.Distribution(ctx, id)
	c.count("Distribution", 1+len(d.Assignments))
	return d, err
}

func (c *countingStore) Distributions(ctx context.Context) ([]api.Distribution, error) {
	ds, err := c.SQLite.Distributions(ctx)
	n := 0
	for _, d := range ds {
		n += 1 + d.Targets
	}
	c.count("Distributions", n)
	return ds, err
}

func (c *countingStore) DistributionHeads(ctx context.Context) ([]api.Distribution, error) {
	ds, err := c.SQLite.DistributionHeads(ctx)
	c.count("DistributionHeads", len(ds))
	return ds, err
}

func (c *countingStore) Assignments(ctx context.Context, id string) ([]api.Assignment, error) {
	as, err := c.SQLite.Assignments(ctx, id)
	c.count("Assignments", len(as))
	return as, err
}

func (c *countingStore) Assignment(ctx context.Context, id string) (api.Assignment, error) {
	c.count("Assignment", 1)
	return c.SQLite.Assignment(ctx, id)
}

func (c *countingStore) HostTasks(ctx context.Context, host string, now time.Time, keep time.Duration) ([]store.HostTask, error) {
	ts, err := c.SQLite.HostTasks(ctx, host, now, keep)
	c.count("HostTasks", len(ts))
	return ts, err
}

func (c *countingStore) ApplyReport(ctx context.Context, host string, r []api.TaskReport, now time.Time) ([]string, error) {
	c.count("ApplyReport", len(r))
	return c.SQLite.ApplyReport(ctx, host, r, now)
}

func (c *countingStore) ApplyReports(ctx context.Context, b []store.HostReport) ([]string, error) {
	n := 0
	for _, r := range b {
		n += len(r.Tasks)
	}
	c.count("ApplyReports", n)
	return c.SQLite.ApplyReports(ctx, b)
}

func (c *countingStore) TouchHost(ctx context.Context, name string, at time.Time) error {
	c.count("TouchHost", 1)
	return c.SQLite.TouchHost(ctx, name, at)
}

func (c *countingStore) SetDistributionState(ctx context.Context, id string, st api.DistState, ended time.Time) error {
	c.count("SetDistributionState", 1)
	return c.SQLite.SetDistributionState(ctx, id, st, ended)
}

func (c *countingStore) Events(ctx context.Context, id string, limit int) ([]store.Event, error) {
	es, err := c.SQLite.Events(ctx, id, limit)
	c.count("Events", len(es))
	return es, err
}

func (c *countingStore) AddEvent(ctx context.Context, e store.Event) error {
	c.count("AddEvent", 1)
	return c.SQLite.AddEvent(ctx, e)
}

func (c *countingStore) AddEvents(ctx context.Context, es []store.Event) error {
	c.count("AddEvents", len(es))
	return c.SQLite.AddEvents(ctx, es)
}

func (c *countingStore) AddSamples(ctx context.Context, ss []store.Sample) error {
	c.count("AddSamples", len(ss))
	return c.SQLite.AddSamples(ctx, ss)
}

// TestStateChangeCostsO1AtFleetScale pushes to 5,000 hosts in process and counts what one state
// change and one peers ask cost the store: a handful of rows, however large the distribution.
func TestStateChangeCostsO1AtFleetScale(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 hosts")
	}
	t.Parallel()
	const clients, relays = 5000, 150
	sq, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	cs := &countingStore{SQLite: sq, calls: map[string]int{}}
	c := &clock{t: time.UnixMilli(1_700_000_000_000).UTC()}
	ctx := ctxT(t)
	// The fleet is in the store already, as after a restart: the controller loads it once.
	for i := range clients + relays {
		h := api.Host{Name: fmt.Sprintf("c%04d", i), Roles: []api.Role{api.RoleClient}, LastSeen: c.Now(),
			Labels: map[string]string{"site": fmt.Sprintf("s%d", i%4)}, BTAddr: fmt.Sprintf("10.%d.%d.%d:6881", i%4, i/250%250, i%250)}
		if i >= clients {
			h.Name, h.Roles = fmt.Sprintf("r%03d", i-clients), []api.Role{api.RoleRelay}
		}
		if err := sq.UpsertHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	srv := controller.New(cs, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: c.Now,
		Probe: func(context.Context, string) (int64, error) { return fileSize, nil }})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	admin, host := api.New(ts.URL, adminToken), api.New(ts.URL, hostToken)
	d, err := admin.CreateDistribution(ctx, api.CreateDistribution{Source: "http://origin.test/image.iso", To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Targets != clients {
		t.Fatalf("targets = %d, want %d", d.Targets, clients)
	}
	report := func(name string, st api.TaskState) {
		t.Helper()
		id := api.AssignmentID(d.ID, name, api.RoleClient)
		if err := host.Report(ctx, api.Report{Host: name, Tasks: []api.TaskReport{{ID: id, State: st, Have: 1}}}); err != nil {
			t.Fatalf("report of %s: %v", name, err)
		}
	}
	// The first report builds the distribution's view: one read of its assignments.
	report("c0000", api.TaskDownloading)
	c.Advance(time.Second)
	cs.take()

	fullReads := []string{"Distribution", "Distributions", "Assignments", "Hosts", "Events"}
	for i, st := range []api.TaskState{api.TaskDownloading, api.TaskDone, api.TaskFailed, api.TaskSeeding} {
		name := fmt.Sprintf("c%04d", 100+i)
		report(name, st)
		calls, rows := cs.take()
		for _, k := range fullReads {
			if calls[k] > 0 {
				t.Errorf("state change of %s to %s: %d %s calls, want none (calls %v)", name, st, calls[k], k, calls)
			}
		}
		if rows > 8 {
			t.Errorf("state change of %s to %s touched %d rows, want at most 8 (calls %v)", name, st, rows, calls)
		}
	}

	// A peers ask reads no more than its candidates: nothing from the store, at most maxPeers
	// looked up in memory and handed out.
	ps, err := host.Peers(ctx, d.ID, "c0200")
	if err != nil {
		t.Fatal(err)
	}
	calls, rows := cs.take()
	if rows > len(ps) || len(calls) > 0 {
		t.Errorf("peers ask read %d rows in %v, want at most its %d candidates", rows, calls, len(ps))
	}
	if len(ps) == 0 || len(ps) > 50 {
		t.Fatalf("peers ask answered %d peers, want 1 to 50", len(ps))
	}
	// Complete peers come first, and the relay the asker is pointed at among the relays.
	if !ps[0].Complete {
		t.Errorf("first peer %+v is not complete; c0101 and c0103 are", ps[0])
	}
	relaySeen := false
	for _, p := range ps {
		relaySeen = relaySeen || p.Relay
	}
	if !relaySeen {
		t.Errorf("no relay among the peers %+v", ps)
	}

	// A report that changes no state writes nothing now: its figures wait for the next flush,
	// which a reader of the figures makes happen first.
	id := api.AssignmentID(d.ID, "c0100", api.RoleClient)
	if err := host.Report(ctx, api.Report{Host: "c0100", Tasks: []api.TaskReport{{ID: id, State: api.TaskDownloading, Have: 4242}}}); err != nil {
		t.Fatal(err)
	}
	if calls, rows := cs.take(); rows != 0 {
		t.Errorf("a progress report wrote %d rows at once (calls %v), want none", rows, calls)
	}

	// The counters stay exact: two done (done and seeding count alike), one failed.
	got, err := admin.Distribution(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if calls, _ := cs.take(); calls["ApplyReports"] != 1 {
		t.Errorf("reading the distribution made %d batched writes, want 1 (calls %v)", calls["ApplyReports"], calls)
	}
	for _, a := range got.Assignments {
		if a.Host == "c0100" && a.Have != 4242 {
			t.Errorf("c0100 has %d bytes after the flush, want 4242", a.Have)
		}
	}
	if got.State != api.DistActive || got.Done != 2 || got.Failed != 1 {
		t.Errorf("distribution %s: done %d failed %d; want active, 2, 1", got.State, got.Done, got.Failed)
	}

	// An upkeep pass that finds every relay working tells it from memory: it reads none of the
	// distribution's thousands of assignments (and so holds no lock over such a read).
	c.Advance(controller.DefaultOnlineWindow + time.Second) // past the start-up grace
	for i := range relays {
		if err := host.Report(ctx, api.Report{Host: fmt.Sprintf("r%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cs.take()
	controller.Upkeep(srv, ctx)
	if calls, _ := cs.take(); calls["Distribution"] > 0 {
		t.Errorf("an upkeep pass with every relay online read the distribution %d times (calls %v), want none", calls["Distribution"], calls)
	}
}

// TestFleetStartReadsNoDistributions: a fleet registering while nothing is live costs one listing
// of the distributions per joinListFresh, not one per host (an empty list is kept too).
func TestFleetStartReadsNoDistributions(t *testing.T) {
	t.Parallel()
	sq, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	cs := &countingStore{SQLite: sq, calls: map[string]int{}}
	c := &clock{t: time.UnixMilli(1_700_000_000_000).UTC()}
	srv := controller.New(cs, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: c.Now})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	host := api.New(ts.URL, hostToken)
	const hosts = 200
	for i := range hosts {
		h := api.Host{Name: fmt.Sprintf("c%03d", i), Roles: []api.Role{api.RoleClient}, BTAddr: "10.0.0.1:6881"}
		if err := host.Register(ctxT(t), h); err != nil {
			t.Fatal(err)
		}
	}
	if calls, _ := cs.take(); calls["Distributions"] > 1 {
		t.Errorf("%d registrations listed the distributions %d times, want at most once", hosts, calls["Distributions"])
	}
}
