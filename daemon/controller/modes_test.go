package controller_test

import (
	"net/http"
	"testing"
	"time"

	"dist/core/api"
)

func TestModeChangesKeptOnceEach(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	d := e.create("c1")
	id := api.AssignmentID(d.ID, "c1", api.RoleClient)
	t0 := e.clock.Now()
	toBT := api.ModeChange{AtMs: t0.UnixMilli(), To: "bt", Reason: "bt first"}
	toMain := api.ModeChange{AtMs: t0.Add(30 * time.Second).UnixMilli(), From: "bt", To: "http-main", Reason: "no bt peer for 30s"}
	toAssist := api.ModeChange{AtMs: t0.Add(3 * time.Minute).UnixMilli(), From: "http-main", To: "assisting", Reason: "bt back at 600 KiB/s"}

	// Hosts repeat each change in a few reports: each is kept once, in order.
	e.report("c1", api.TaskReport{ID: id, State: api.TaskDownloading, Mode: "http-main", ModeReason: toMain.Reason,
		ModeChanges: []api.ModeChange{toMain, toBT}})
	e.report("c1", api.TaskReport{ID: id, State: api.TaskDownloading, Mode: "http-main", ModeReason: toMain.Reason,
		ModeChanges: []api.ModeChange{toBT, toMain}})
	e.report("c1", api.TaskReport{ID: id, State: api.TaskDownloading, Mode: "assisting", ModeReason: toAssist.Reason,
		ModeChanges: []api.ModeChange{toMain, toAssist}})
	// A report without changes keeps the stored mode.
	e.report("c1", api.TaskReport{ID: id, State: api.TaskDownloading})

	var modes []string
	for _, ev := range events(t, e, d.ID) {
		if ev.Kind == "mode" {
			modes = append(modes, ev.Msg)
		}
	}
	want := []string{ // newest first
		"mode http-main → assisting: bt back at 600 KiB/s",
		"mode bt → http-main: no bt peer for 30s",
		"mode start → bt: bt first",
	}
	if len(modes) != len(want) {
		t.Fatalf("mode events %q, want %q", modes, want)
	}
	for i := range want {
		if modes[i] != want[i] {
			t.Fatalf("mode events %q, want %q", modes, want)
		}
	}
	got := e.dist(d.ID)
	a := got.Assignments[len(got.Assignments)-1]
	if a.Mode != "assisting" || a.ModeReason != toAssist.Reason || a.ModeAt.UnixMilli() != toAssist.AtMs {
		t.Fatalf("assignment mode %q (%q) at %v, want assisting at %v", a.Mode, a.ModeReason, a.ModeAt, time.UnixMilli(toAssist.AtMs))
	}
}

func TestSettingsStoredAndDelivered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.fleet()
	set := &api.Settings{Threshold: 200 << 10, WindowMs: 30000, CooldownMs: 60000, HTTPShare: 0.2, MaxSpeed: 10 << 20, TimeoutMs: 3600000}
	d, err := e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://origin.test/files/image.iso", To: []string{"c1"}, Settings: set,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.dist(d.ID).Settings; got == nil || *got != *set {
		t.Fatalf("stored settings %+v, want %+v", got, set)
	}
	w, err := e.host.Watch(ctxT(t), "c1", "")
	if err != nil || len(w.Tasks) != 1 || w.Tasks[0].Settings == nil || *w.Tasks[0].Settings != *set {
		t.Fatalf("delivered task %+v (%v), want settings %+v", w.Tasks, err, set)
	}
	// Out of range is the operator's mistake, told as such.
	_, err = e.admin.CreateDistribution(ctxT(t), api.CreateDistribution{
		Source: "http://origin.test/files/image.iso", To: []string{"c1"}, Settings: &api.Settings{WindowMs: 5000},
	})
	if code, msg := statusCode(t, err); code != http.StatusBadRequest {
		t.Fatalf("window 5s: %d %s, want 400", code, msg)
	}
}
