package controller_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

// answerWithin is how long a watch that must answer at once may take; far below the poll timeout.
const answerWithin = 5 * time.Second

type watchResult struct {
	w   api.Watch
	err error
}

// heldWatch starts a watch in a goroutine and returns once the controller holds it.
func heldWatch(t *testing.T, e *env, held <-chan struct{}, host, version string) <-chan watchResult {
	t.Helper()
	out := make(chan watchResult, 1)
	go func() {
		w, err := e.host.Watch(ctxT(t), host, version)
		out <- watchResult{w, err}
	}()
	select {
	case <-held:
	case r := <-out:
		t.Fatalf("watch answered instead of waiting: %+v %v", r.w, r.err)
	case <-time.After(answerWithin):
		t.Fatal("watch was not held")
	}
	return out
}

func holdSignal(e *env) <-chan struct{} {
	held := make(chan struct{}, 16)
	controller.SetOnHold(e.srv, func() { held <- struct{}{} })
	return held
}

func TestWatchDeliversTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://origin.test/files/image.iso", To: []string{"c1"}, Dest: "/srv/image.iso",
		SHA256: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", PieceLen: 1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil {
		t.Fatal(err)
	}
	want := api.Task{
		ID: api.AssignmentID(d.ID, "c1", api.RoleClient), DistID: d.ID, Role: api.RoleClient,
		Name: "image.iso", Source: "http://origin.test/files/image.iso", Size: fileSize,
		PieceLen: 1 << 20, Dest: "/srv/image.iso",
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	}
	if len(w.Tasks) != 1 || w.Tasks[0].ID != want.ID || w.Tasks[0].Source != want.Source ||
		w.Tasks[0].Size != want.Size || w.Tasks[0].Dest != want.Dest || w.Tasks[0].SHA256 != want.SHA256 ||
		w.Tasks[0].PieceLen != want.PieceLen || w.Tasks[0].Role != want.Role || w.Tasks[0].Name != want.Name ||
		w.Tasks[0].DistID != want.DistID || w.Tasks[0].Metainfo != nil {
		t.Fatalf("tasks %+v, want [%+v]", w.Tasks, want)
	}
	if w.Version == "" {
		t.Fatal("empty version")
	}

	rw, err := e.host.Watch(ctxT(t), "relay-a", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rw.Tasks) != 1 || rw.Tasks[0].Role != api.RoleRelay || rw.Tasks[0].ID != api.AssignmentID(d.ID, "relay-a", api.RoleRelay) {
		t.Fatalf("relay tasks %+v", rw.Tasks)
	}

	other, err := e.host.Watch(ctxT(t), "c4", "")
	if err != nil {
		t.Fatal(err)
	}
	if other.Tasks == nil || len(other.Tasks) != 0 {
		t.Fatalf("c4 tasks %#v, want an empty list", other.Tasks)
	}
}

func TestHeldWatchWakesOnCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	held := holdSignal(e)
	first, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Tasks) != 0 {
		t.Fatalf("tasks before any push: %+v", first.Tasks)
	}
	out := heldWatch(t, e, held, "c1", first.Version)
	d := e.create("c1")
	select {
	case r := <-out:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.w.Version == first.Version {
			t.Errorf("version did not change")
		}
		if len(r.w.Tasks) != 1 || r.w.Tasks[0].DistID != d.ID {
			t.Fatalf("woken watch answered %+v, want the task of %s", r.w.Tasks, d.ID)
		}
	case <-time.After(answerWithin):
		t.Fatal("held watch was not woken by the push")
	}
}

func TestWatchVersionMismatchAnswersAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1")
	for _, v := range []string{"", "stale", "other-process:0"} {
		ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
		w, err := e.host.Watch(ctx, "c1", v)
		cancel()
		if err != nil {
			t.Fatalf("version %q: %v", v, err)
		}
		if len(w.Tasks) != 1 || w.Tasks[0].DistID != d.ID {
			t.Fatalf("version %q: tasks %+v", v, w.Tasks)
		}
	}
}

func TestWatchUnknownHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.host.Watch(ctxT(t), "ghost", "")
	if status, code := statusCode(t, err); status != http.StatusNotFound || code != api.CodeNotFound {
		t.Fatalf("status %d code %q, want 404 not_found", status, code)
	}
}

func TestWatchEndsWhenCallerLeaves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	held := holdSignal(e)
	first, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan error, 1)
	go func() {
		_, err := e.host.Watch(ctx, "c1", first.Version)
		out <- err
	}()
	select {
	case <-held:
	case <-time.After(answerWithin):
		t.Fatal("watch was not held")
	}
	cancel()
	select {
	case err := <-out:
		if err == nil {
			t.Fatal("cancelled watch answered without error")
		}
	case <-time.After(answerWithin):
		t.Fatal("cancelled watch did not return")
	}
}

func TestOfflineHostGetsTaskWhenItReturns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	e.clock.Advance(time.Hour) // everybody is offline now…
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient) // …but these two

	hs, err := e.admin.Hosts(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	online := map[string]bool{}
	for _, h := range hs {
		online[h.Name] = h.Online
	}
	if !online["c1"] || online["c2"] || !online["relay-a"] || online["relay-b"] {
		t.Fatalf("online %v", online)
	}

	d := e.create("site=a")
	if clients, _ := clientsOf(d); len(clients) != 3 {
		t.Fatalf("offline hosts are not targets: %v", clients)
	}
	// c2 comes back and watches: its task is there.
	w, err := e.host.Watch(ctxT(t), "c2", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Tasks) != 1 || w.Tasks[0].ID != api.AssignmentID(d.ID, "c2", api.RoleClient) {
		t.Fatalf("returning host got %+v", w.Tasks)
	}
	hs, _ = e.admin.Hosts(ctxT(t))
	for _, h := range hs {
		if h.Name == "c2" && !h.Online {
			t.Fatal("a watching host is not online")
		}
	}
}

func TestRunReleasesHeldWatchesOnStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	held := holdSignal(e)
	first, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.srv.Run(ctx); close(done) }()
	out := heldWatch(t, e, held, "c1", first.Version)
	cancel()
	<-done
	select {
	case r := <-out:
		if r.err != nil {
			t.Fatal(r.err)
		}
	case <-time.After(answerWithin):
		t.Fatal("held watch not released when Run stopped")
	}
}

func TestRunWakesWatchesWhenKeepPasses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	held := holdSignal(e)
	d := e.create("c1")
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskDone, Have: fileSize})
	first, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil || len(first.Tasks) != 1 {
		t.Fatalf("seeding task: %+v %v", first.Tasks, err)
	}
	out := heldWatch(t, e, held, "c1", first.Version)
	e.clock.Advance(2 * time.Hour) // past Keep: the task drops out without any request
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.srv.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	select {
	case r := <-out:
		if r.err != nil || len(r.w.Tasks) != 0 {
			t.Fatalf("woken watch: %+v %v", r.w, r.err)
		}
	case <-time.After(answerWithin):
		t.Fatal("upkeep did not wake the watch when Keep passed")
	}
}

// A failed or cancelled assignment is still listed (its figures count) but marked Cancel, so the
// host stops it and drops what it had not finished.
func TestWatchMarksEndedTasksCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1", "c2")
	e.report("c1", api.TaskReport{ID: api.AssignmentID(d.ID, "c1", api.RoleClient), State: api.TaskFailed, Error: "disk full"})
	e.report("c2", api.TaskReport{ID: api.AssignmentID(d.ID, "c2", api.RoleClient), State: api.TaskDownloading, Have: 1})
	for _, tc := range []struct {
		host   string
		cancel bool
	}{{"c1", true}, {"c2", false}} {
		w, err := e.host.Watch(ctxT(t), tc.host, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(w.Tasks) != 1 || w.Tasks[0].Cancel != tc.cancel {
			t.Errorf("%s tasks %+v, want one with cancel=%v", tc.host, w.Tasks, tc.cancel)
		}
	}
}
