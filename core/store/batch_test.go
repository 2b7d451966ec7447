package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"dist/core/api"
)

func testTouchHostsOneTransaction(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	for _, n := range []string{"a", "b"} {
		if err := s.UpsertHost(ctx, api.Host{Name: n, LastSeen: t0}); err != nil {
			t.Fatal(err)
		}
	}
	// b's time is older than the stored one: kept out; c is unknown: skipped.
	seen := map[string]time.Time{"a": t0.Add(time.Minute), "b": t0.Add(-time.Minute), "c": t0}
	if err := s.TouchHosts(ctx, seen); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]time.Time{"a": t0.Add(time.Minute), "b": t0} {
		h, err := s.Host(ctx, name)
		if err != nil || !h.LastSeen.Equal(want) {
			t.Errorf("host %s last seen %v (%v), want %v", name, h.LastSeen, err, want)
		}
	}
	if _, err := s.Host(ctx, "c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown host c after touch: %v, want not found", err)
	}
	if err := s.TouchHosts(ctx, nil); err != nil {
		t.Errorf("touch of no hosts: %v", err)
	}
}

func testAssignmentByID(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, api.DistPending), nil,
		asg("d1", "r", api.RoleRelay, api.TaskPending), asg("d1", "c", api.RoleClient, api.TaskDownloading))
	a, err := s.Assignment(ctx, api.AssignmentID("d1", "c", api.RoleClient))
	if err != nil || a.Host != "c" || a.State != api.TaskDownloading || a.DistID != "d1" {
		t.Errorf("assignment = %+v, %v; want c downloading in d1", a, err)
	}
	if _, err := s.Assignment(ctx, "d1/x/client"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown assignment: %v, want not found", err)
	}
}

func testUpsertHostsOneTransaction(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	if err := s.UpsertHost(ctx, api.Host{Name: "a", Version: "old", LastSeen: t0}); err != nil {
		t.Fatal(err)
	}
	hs := []api.Host{
		{Name: "a", Version: "new", Labels: map[string]string{"site": "x"}, LastSeen: t0.Add(time.Minute)},
		{Name: "b", Roles: []api.Role{api.RoleRelay}, HTTPURL: "http://b:8080", LastSeen: t0},
	}
	if err := s.UpsertHosts(ctx, hs); err != nil {
		t.Fatal(err)
	}
	for _, want := range hs {
		h, err := s.Host(ctx, want.Name)
		if err != nil || h.Version != want.Version || h.HTTPURL != want.HTTPURL || !h.LastSeen.Equal(want.LastSeen) ||
			h.Labels["site"] != want.Labels["site"] || len(h.Roles) != len(want.Roles) {
			t.Errorf("host %s = %+v (%v), want %+v", want.Name, h, err, want)
		}
	}
	// One bad host refuses the batch whole: nothing of it is written.
	if err := s.UpsertHosts(ctx, []api.Host{{Name: "c"}, {Name: ""}}); err == nil {
		t.Error("a batch with a nameless host was accepted")
	}
	if _, err := s.Host(ctx, "c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("host c of a refused batch: %v, want not found", err)
	}
}

func testAddEventsInOrder(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	var es []Event
	for i := range 3 {
		es = append(es, Event{At: t0.Add(time.Duration(i) * time.Second), DistID: "d1", Host: fmt.Sprintf("h%d", i), Kind: "mode", Msg: fmt.Sprintf("m%d", i)})
	}
	es = append(es, Event{DistID: "d2", Kind: "state", Msg: "no time: now"})
	if err := s.AddEvents(ctx, es); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvents(ctx, nil); err != nil {
		t.Errorf("no events: %v", err)
	}
	got, err := s.Events(ctx, "d1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d events of d1, want 3", len(got))
	}
	for i, e := range got { // newest first
		want := es[2-i]
		if e.Host != want.Host || e.Msg != want.Msg || !e.At.Equal(want.At) || e.Kind != "mode" {
			t.Errorf("event %d = %+v, want %+v", i, e, want)
		}
	}
	if d2, err := s.Events(ctx, "d2", 0); err != nil || len(d2) != 1 || d2[0].At.IsZero() {
		t.Errorf("events of d2 = %+v, %v; want one, timed", d2, err)
	}
}

func testApplyReportsOneTransaction(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil,
		asg("d1", "a", api.RoleClient, api.TaskDownloading), asg("d1", "b", api.RoleClient, api.TaskDownloading))
	ida, idb := api.AssignmentID("d1", "a", api.RoleClient), api.AssignmentID("d1", "b", api.RoleClient)
	changed, err := s.ApplyReports(ctx, []HostReport{
		{Host: "a", Tasks: []api.TaskReport{{ID: ida, Have: 10}}, At: t0},
		{Host: "b", Tasks: []api.TaskReport{{ID: idb, State: api.TaskDone, Have: 20}}, At: t0.Add(time.Second)},
		{Host: "a", Tasks: []api.TaskReport{{ID: idb, Have: 99}}, At: t0}, // not a's: ignored
	})
	if err != nil || len(changed) != 1 || changed[0] != idb {
		t.Fatalf("changed %v, %v; want only %s", changed, err, idb)
	}
	as, err := s.Assignments(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		want := map[string]int64{"a": 10, "b": 20}[a.Host]
		if a.Have != want {
			t.Errorf("%s have %d, want %d", a.Host, a.Have, want)
		}
	}
	if as[0].State != api.TaskDownloading || as[1].State != api.TaskDone {
		t.Errorf("states %s %s, want downloading (kept) and done", as[0].State, as[1].State)
	}
}

func testHostTaskHeadsLeaveMetainfoOut(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, api.DistActive), []byte("d8:announce0:e"), asg("d1", "h", api.RoleClient, api.TaskPending))
	mustCreate(t, s, dist("d2", t0.Add(time.Second), api.DistActive), nil, asg("d2", "h", api.RoleClient, api.TaskPending))
	full, err := s.HostTasks(ctx, "h", t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	heads, err := s.HostTaskHeads(ctx, "h", t0, time.Hour)
	if err != nil || len(heads) != 2 || len(full) != 2 {
		t.Fatalf("heads %d, full %d (%v); want 2 each", len(heads), len(full), err)
	}
	if heads[0].Distribution.Metainfo != nil || !heads[0].HasMetainfo || heads[1].HasMetainfo {
		t.Errorf("heads: metainfo %q, has %v %v; want none read, d1 has one, d2 none",
			heads[0].Distribution.Metainfo, heads[0].HasMetainfo, heads[1].HasMetainfo)
	}
	if string(full[0].Distribution.Metainfo) != "d8:announce0:e" || !full[0].HasMetainfo {
		t.Errorf("full: metainfo %q, has %v", full[0].Distribution.Metainfo, full[0].HasMetainfo)
	}
}

// Many transactions at once, more than the pool has connections, each using the shared prepared
// statements: they all finish (a statement prepared inside a transaction would wait for a second
// connection that every other transaction holds), and each report is stored.
func testConcurrentBatchesShareStatements(t *testing.T, b backend) {
	s := openTest(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const hosts = 24
	var as []api.Assignment
	for i := range hosts {
		as = append(as, asg("d1", fmt.Sprintf("h%02d", i), api.RoleClient, api.TaskPending))
	}
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, as...)
	errs := make(chan error, 3*hosts)
	for i := range hosts {
		name := fmt.Sprintf("h%02d", i)
		go func() {
			_, err := s.ApplyReports(ctx, []HostReport{{Host: name, At: t0, Tasks: []api.TaskReport{
				{ID: api.AssignmentID("d1", name, api.RoleClient), State: api.TaskDownloading, Have: 7}}}})
			errs <- err
		}()
		go func() { errs <- s.TouchHosts(ctx, map[string]time.Time{name: t0}) }()
		go func() {
			_, err := s.HostTaskHeads(ctx, name, t0, time.Hour)
			errs <- err
		}()
	}
	for range 3 * hosts {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-ctx.Done():
			t.Fatal("concurrent transactions did not finish within 30 s")
		}
	}
	for i := range hosts {
		a, err := s.Assignment(ctx, api.AssignmentID("d1", fmt.Sprintf("h%02d", i), api.RoleClient))
		if err != nil || a.State != api.TaskDownloading || a.Have != 7 {
			t.Errorf("assignment of h%02d = %+v, %v; want downloading with 7 bytes", i, a, err)
		}
	}
}
