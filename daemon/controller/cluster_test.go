package controller_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/core/store/pgtest"
	"dist/daemon/controller"
)

// peer is one of several controllers on one PostgreSQL database, running as the daemon runs it.
type peer struct {
	srv     *controller.Server
	admin   *api.Client
	host    *api.Client
	applied chan struct{} // a payload from another controller was applied
}

func startPeers(t *testing.T, n int) []*peer {
	t.Helper()
	dsn := pgtest.Private(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	var ps []*peer
	for range n {
		st, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken,
			Probe: func(context.Context, string) (int64, error) { return fileSize, nil }})
		if !controller.Clustered(srv) {
			t.Fatal("a controller on PostgreSQL does not keep in step with others")
		}
		p := &peer{srv: srv, applied: make(chan struct{}, 1)}
		controller.SetOnClusterApply(srv, func() {
			select {
			case p.applied <- struct{}{}:
			default:
			}
		})
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.Config.Protocols = controller.Protocols()
		ts.Start()
		t.Cleanup(ts.Close)
		p.admin, p.host = api.New(ts.URL, adminToken), api.New(ts.URL, hostToken)
		wg.Add(1)
		go func() { defer wg.Done(); srv.Run(ctx) }()
		ps = append(ps, p)
	}
	return ps
}

// until waits for cond, looking again each time p applies something from another controller,
// for at most 10 s.
func (p *peer) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond) // the bus may have spoken before cond could see it
	defer tick.Stop()
	for !cond() {
		select {
		case <-p.applied:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("after 10 s: %s", what)
		}
	}
}

// TestControllersShareOneFleet: what one controller is told, the others know, and the watches
// they hold wake for it: a host registered at A is known at B; a push made at A wakes the watch
// the host holds at B with its task; a report at A moves B's counters; exactly one runs the
// lifecycle.
func TestControllersShareOneFleet(t *testing.T) {
	t.Parallel()
	ps := startPeers(t, 2)
	a, b := ps[0], ps[1]
	ctx := ctxT(t)

	for _, h := range []api.Host{
		{Name: "r1", Roles: []api.Role{api.RoleRelay}, BTAddr: "127.0.0.1:6881", HTTPURL: "http://127.0.0.1:7701"},
		{Name: "c1", Roles: []api.Role{api.RoleClient}, BTAddr: "127.0.0.2:6881", HTTPURL: "http://127.0.0.2:7701"},
	} {
		if err := a.host.Register(ctx, h); err != nil {
			t.Fatalf("register %s at A: %v", h.Name, err)
		}
	}
	b.until(t, "host c1 registered at A is unknown at B", func() bool { return controller.KnowsHost(ctx, b.srv, "c1") })

	// c1 watches at B with nothing to do; the push at A must end that watch with its task.
	w, err := b.host.Watch(ctx, "c1", "")
	if err != nil {
		t.Fatalf("first watch at B: %v", err)
	}
	if len(w.Tasks) != 0 {
		t.Fatalf("c1 has tasks before any push: %+v", w.Tasks)
	}
	type answer struct {
		w   api.Watch
		err error
	}
	held := make(chan answer, 1)
	go func() {
		w2, err := b.host.Watch(ctx, "c1", w.Version)
		held <- answer{w2, err}
	}()
	d, err := a.admin.CreateDistribution(ctx, api.CreateDistribution{Source: "http://origin.test/files/image.iso", To: []string{"c1"}})
	if err != nil {
		t.Fatalf("push at A: %v", err)
	}
	// The held watch must wake well before its poll ends (api.WatchPollTimeout); it may wake for
	// something else first (a controller that connects to the bus wakes its watches once), and
	// then the host watches again, as the agent does.
	var task api.Task
	deadline := time.After(10 * time.Second)
	for task.ID == "" {
		var got answer
		select {
		case got = <-held:
		case <-deadline:
			t.Fatal("the watch c1 holds at B did not bring its task within 10 s of a push at A")
		}
		if got.err != nil {
			t.Fatalf("watch at B: %v", got.err)
		}
		for _, tk := range got.w.Tasks {
			if tk.DistID == d.ID {
				task = tk
			}
		}
		if task.ID == "" {
			go func() {
				w2, err := b.host.Watch(ctx, "c1", got.w.Version)
				held <- answer{w2, err}
			}()
		}
	}

	// Build B's view before the report, so that it must follow the report rather than read it.
	if _, done, _, err := controller.ViewFigures(ctx, b.srv, d.ID); err != nil || done != 0 {
		t.Fatalf("B's view of %s: done %d, err %v", d.ID, done, err)
	}
	if err := a.host.Report(ctx, api.Report{Host: "c1", Tasks: []api.TaskReport{{ID: task.ID, State: api.TaskDone, Have: fileSize}}}); err != nil {
		t.Fatalf("report at A: %v", err)
	}
	b.until(t, "B's view does not count c1 done after its report at A", func() bool {
		_, done, _, err := controller.ViewFigures(ctx, b.srv, d.ID)
		return err == nil && done == 1
	})

	// One of the two decides deadlines and lost relays; the leadership is taken within seconds.
	a.until(t, "no controller runs the lifecycle", func() bool {
		return controller.Leading(a.srv) || controller.Leading(b.srv)
	})
	if controller.Leading(a.srv) && controller.Leading(b.srv) {
		t.Fatal("both controllers run the lifecycle")
	}
}
