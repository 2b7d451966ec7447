package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"dist/core/api"
)

// t0 is a fixed base time with millisecond precision, as the store keeps it.
var t0 = time.UnixMilli(1_700_000_000_000).UTC()

// openTest opens a fresh, empty store of backend b, closed when t ends.
func openTest(t *testing.T, b backend) testStore {
	t.Helper()
	return b.place(t)(t)
}

// openSQLite opens a fresh SQLite store, for the tests of what only SQLite has.
func openSQLite(t *testing.T) *SQLite {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state", "dist.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dist(id string, created time.Time, state api.DistState) api.Distribution {
	return api.Distribution{
		ID: id, Name: id + ".img", Source: "http://origin/" + id, Size: 1 << 20,
		State: state, Selectors: []string{"all"}, CreatedAt: created,
	}
}

func asg(distID, host string, role api.Role, state api.TaskState) api.Assignment {
	return api.Assignment{ID: api.AssignmentID(distID, host, role), DistID: distID, Host: host, Role: role, State: state}
}

func mustCreate(t *testing.T, s Store, d api.Distribution, meta []byte, as ...api.Assignment) {
	t.Helper()
	if err := s.CreateDistribution(context.Background(), d, meta, as); err != nil {
		t.Fatal(err)
	}
}

func pragmaInt(t *testing.T, s *SQLite, name string) int {
	t.Helper()
	var v int
	if err := s.db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenMigrates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Fatalf("migrations = %v, want 0001_init.sql first", ms)
	}

	// The parent directory does not exist yet, and the name holds URI specials.
	p := filepath.Join(t.TempDir(), "a b?c%20#d", "dist.db")
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
	if v := pragmaInt(t, s, "user_version"); v != len(ms) {
		t.Errorf("user_version = %d, want %d", v, len(ms))
	}
	if v := pragmaInt(t, s, "foreign_keys"); v != 1 {
		t.Errorf("foreign_keys = %d, want 1", v)
	}
	if v := pragmaInt(t, s, "busy_timeout"); v != 5000 {
		t.Errorf("busy_timeout = %d, want 5000", v)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	for _, name := range []string{"hosts", "distributions", "assignments", "events", "assignments_host", "assignments_dist_id"} {
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil || n != 1 {
			t.Errorf("schema object %s: count %d, %v", name, n, err)
		}
	}
	if err := s.UpsertHost(ctx, api.Host{Name: "h1", Roles: []api.Role{api.RoleClient}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening applies nothing again (a second CREATE TABLE would fail) and keeps the data.
	s, err = Open(p)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if v := pragmaInt(t, s, "user_version"); v != len(ms) {
		t.Errorf("user_version after reopen = %d, want %d", v, len(ms))
	}
	if _, err := s.Host(ctx, "h1"); err != nil {
		t.Errorf("host after reopen: %v", err)
	}

	// A schema from a newer program is refused rather than used.
	if _, err := s.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(ms)+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(p); err == nil {
		s.Close()
		t.Fatal("open of a newer schema succeeded")
	}
}

func testCreateDistributionAtomic(t *testing.T, b backend) {
	ctx := context.Background()
	cases := []struct {
		name string
		as   []api.Assignment
		want error // nil: any error
	}{
		{"duplicate assignment id", []api.Assignment{
			asg("d1", "r1", api.RoleRelay, ""), asg("d1", "h1", api.RoleClient, ""), asg("d1", "h1", api.RoleClient, ""),
		}, ErrExists},
		{"assignment of another distribution", []api.Assignment{
			asg("d1", "h1", api.RoleClient, ""), asg("d2", "h2", api.RoleClient, ""),
		}, nil},
		{"unknown role", []api.Assignment{
			asg("d1", "h1", api.RoleClient, ""), asg("d1", "h2", "seeder", ""),
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := openTest(t, b)
			err := s.CreateDistribution(ctx, dist("d1", t0, ""), []byte("meta"), c.as)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("create = %v, want %v", err, c.want)
			}
			if _, err := s.Distribution(ctx, "d1"); !errors.Is(err, ErrNotFound) {
				t.Errorf("distribution after failed create: %v, want ErrNotFound", err)
			}
			if ds, err := s.Distributions(ctx); err != nil || len(ds) != 0 {
				t.Errorf("distributions after failed create = %v, %v", ds, err)
			}
			if as, err := s.Assignments(ctx, "d1"); err != nil || len(as) != 0 {
				t.Errorf("assignments after failed create = %v, %v", as, err)
			}
			if ts, err := s.HostTasks(ctx, "h1", t0, time.Hour); err != nil || len(ts) != 0 {
				t.Errorf("host tasks after failed create = %v, %v", ts, err)
			}
			// The id is still free.
			mustCreate(t, s, dist("d1", t0, ""), nil, asg("d1", "h1", api.RoleClient, ""))
		})
	}
}

func testCreateDistributionDefaults(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, ""), nil, api.Assignment{Host: "h1", Role: api.RoleClient})
	d, err := s.Distribution(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != api.DistPending {
		t.Errorf("state = %q, want %q", d.State, api.DistPending)
	}
	want := api.Assignment{ID: "d1/h1/client", DistID: "d1", Host: "h1", Role: api.RoleClient, State: api.TaskPending}
	if len(d.Assignments) != 1 || !reflect.DeepEqual(d.Assignments[0], want) {
		t.Errorf("assignments = %+v, want [%+v]", d.Assignments, want)
	}
}

func testNotFoundAndExists(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, asg("d1", "h1", api.RoleClient, ""))

	cases := []struct {
		name string
		do   func() error
		want error
	}{
		{"touch unknown host", func() error { return s.TouchHost(ctx, "nope", t0) }, ErrNotFound},
		{"unknown host", func() error { _, err := s.Host(ctx, "nope"); return err }, ErrNotFound},
		{"unknown distribution", func() error { _, err := s.Distribution(ctx, "nope"); return err }, ErrNotFound},
		{"metainfo of unknown distribution", func() error { return s.SetMetainfo(ctx, "nope", []byte("m"), "ih", 1) }, ErrNotFound},
		{"state of unknown distribution", func() error { return s.SetDistributionState(ctx, "nope", api.DistActive, t0) }, ErrNotFound},
		{"distribution id taken", func() error {
			return s.CreateDistribution(ctx, dist("d1", t0, ""), nil, nil)
		}, ErrExists},
		{"assignment id taken by another distribution", func() error {
			return s.CreateDistribution(ctx, dist("d2", t0, ""), nil,
				[]api.Assignment{{ID: "d1/h1/client", Host: "h1", Role: api.RoleClient}})
		}, ErrExists},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := s.Distribution(ctx, "d2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("d2 after failed create: %v, want ErrNotFound", err)
	}
}

func testHosts(t *testing.T, be backend) {
	ctx := context.Background()
	s := openTest(t, be)
	b := api.Host{Name: "b", Labels: map[string]string{"rack": "r1"}, Roles: []api.Role{api.RoleRelay, api.RoleClient},
		HTTPURL: "http://b:7000", BTAddr: "b:6881", Version: "1.0", LastSeen: t0}
	a := api.Host{Name: "a", LastSeen: t0}
	for _, h := range []api.Host{b, a} {
		if err := s.UpsertHost(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Host(ctx, "b")
	if err != nil || !reflect.DeepEqual(got, b) {
		t.Errorf("host b = %+v, %v; want %+v", got, err, b)
	}

	// Upsert replaces every field; touch moves last_seen only.
	b.Roles, b.Version, b.Labels = []api.Role{api.RoleClient}, "1.1", nil
	if err := s.UpsertHost(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchHost(ctx, "b", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	b.LastSeen = t0.Add(time.Minute)
	a.Roles = []api.Role{} // stored nil reads back empty, so JSON shows [] rather than null
	hs, err := s.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []api.Host{a, b}; !reflect.DeepEqual(hs, want) {
		t.Errorf("hosts = %+v, want %+v", hs, want)
	}
	if err := s.UpsertHost(ctx, api.Host{}); err == nil {
		t.Error("upsert of a host without a name succeeded")
	}
}

func testAggregates(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	client := func(host string, state api.TaskState, have, bt, relay, origin int64) api.Assignment {
		a := asg("d1", host, api.RoleClient, state)
		a.Have, a.BytesBT, a.BytesHTTPRelay, a.BytesHTTPOrigin = have, bt, relay, origin
		return a
	}
	// Relays hold big numbers that must not leak into the client aggregates.
	r1 := asg("d1", "r1", api.RoleRelay, api.TaskSeeding)
	r1.Have, r1.BytesBT, r1.BytesHTTPOrigin = 1e9, 1e9, 1e9
	r0 := asg("d1", "r0", api.RoleRelay, api.TaskFailed)
	as := []api.Assignment{
		client("c5", api.TaskPending, 0, 0, 0, 0),
		r1,
		client("c1", api.TaskDone, 100, 60, 30, 10),
		client("c3", api.TaskFailed, 5, 5, 0, 0),
		client("c2", api.TaskSeeding, 100, 100, 0, 0),
		r0,
		client("c4", api.TaskDownloading, 50, 20, 20, 10),
	}
	d1 := dist("d1", t0, api.DistActive)
	d1.SHA256, d1.Dest, d1.Publisher, d1.PieceLength, d1.InfoHash = "abc", "/data/x", "pub", 1<<16, "ih"
	mustCreate(t, s, d1, []byte("meta"), as...)
	mustCreate(t, s, dist("d2", t0.Add(time.Hour), api.DistPending), nil)
	mustCreate(t, s, dist("d0", t0.Add(-time.Hour), api.DistPending), nil, asg("d0", "c1", api.RoleClient, api.TaskDone))

	wantD1 := d1
	wantD1.Targets, wantD1.Done, wantD1.Failed = 5, 2, 1
	wantD1.Have, wantD1.BytesBT, wantD1.BytesHTTPRelay, wantD1.BytesHTTPOrigin = 255, 185, 50, 20
	wantD2 := dist("d2", t0.Add(time.Hour), api.DistPending)
	wantD0 := dist("d0", t0.Add(-time.Hour), api.DistPending)
	wantD0.Targets, wantD0.Done = 1, 1

	ds, err := s.Distributions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []api.Distribution{wantD2, wantD1, wantD0}; !reflect.DeepEqual(ds, want) {
		t.Errorf("distributions:\n got %+v\nwant %+v", ds, want)
	}
	// The heads are the same rows in the same order, without the aggregates.
	heads, err := s.DistributionHeads(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds {
		ds[i].Targets, ds[i].Done, ds[i].Failed, ds[i].Have = 0, 0, 0, 0
		ds[i].BytesBT, ds[i].BytesHTTPRelay, ds[i].BytesHTTPOrigin = 0, 0, 0
	}
	if !reflect.DeepEqual(heads, ds) {
		t.Errorf("distribution heads:\n got %+v\nwant %+v", heads, ds)
	}

	got, err := s.Distribution(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, a := range got.Assignments {
		order = append(order, a.Host)
	}
	if want := []string{"r0", "r1", "c1", "c2", "c3", "c4", "c5"}; !slices.Equal(order, want) {
		t.Errorf("assignment order = %v, want %v", order, want)
	}
	if string(got.Metainfo) != "meta" {
		t.Errorf("metainfo = %q", got.Metainfo)
	}
	got.Assignments, got.Metainfo = nil, nil
	if !reflect.DeepEqual(got, wantD1) {
		t.Errorf("distribution d1:\n got %+v\nwant %+v", got, wantD1)
	}
	listed, err := s.Assignments(ctx, "d1")
	if err != nil || len(listed) != len(as) || listed[1] != r1 {
		t.Errorf("assignments = %+v, %v; want %d with r1 second", listed, err, len(as))
	}
}

func testSetMetainfoAndState(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, api.DistPending), nil)
	d, err := s.Distribution(ctx, "d1")
	if err != nil || d.Metainfo != nil || d.InfoHash != "" {
		t.Fatalf("before: metainfo %q info hash %q, %v", d.Metainfo, d.InfoHash, err)
	}
	if err := s.SetMetainfo(ctx, "d1", []byte("torrent"), "abcd", 1<<20); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		state     api.DistState
		ended     time.Time
		wantEnded time.Time
	}{
		{api.DistActive, time.Time{}, time.Time{}},
		{api.DistComplete, t0.Add(time.Hour), t0.Add(time.Hour)},
		{api.DistComplete, time.Time{}, t0.Add(time.Hour)}, // zero keeps ended_at
	}
	for i, st := range steps {
		if err := s.SetDistributionState(ctx, "d1", st.state, st.ended); err != nil {
			t.Fatal(err)
		}
		d, err := s.Distribution(ctx, "d1")
		if err != nil {
			t.Fatal(err)
		}
		if d.State != st.state || !d.EndedAt.Equal(st.wantEnded) || string(d.Metainfo) != "torrent" ||
			d.InfoHash != "abcd" || d.PieceLength != 1<<20 {
			t.Errorf("step %d: %+v", i, d)
		}
	}
}

func testApplyReport(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil,
		asg("d1", "h1", api.RoleClient, api.TaskPending), asg("d1", "h2", api.RoleClient, api.TaskPending))
	mustCreate(t, s, dist("d2", t0, api.DistActive), nil, asg("d2", "h1", api.RoleClient, api.TaskPending))
	const a1, a2, b1 = "d1/h1/client", "d1/h2/client", "d2/h1/client"
	get := func(t *testing.T, id string) api.Assignment {
		t.Helper()
		for _, d := range []string{"d1", "d2"} {
			as, err := s.Assignments(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if a.ID == id {
					return a
				}
			}
		}
		t.Fatalf("assignment %s missing", id)
		return api.Assignment{}
	}

	steps := []struct {
		name    string
		host    string
		reports []api.TaskReport
		now     time.Time
		changed []string
		check   func(t *testing.T)
	}{
		{
			name: "first bytes; unknown and foreign ids ignored", host: "h1", now: t0.Add(1 * time.Second),
			reports: []api.TaskReport{
				{ID: a1, State: api.TaskDownloading, Have: 10, BytesBT: 7, BytesHTTPRelay: 2, BytesHTTPOrigin: 1, BytesUp: 3, Peers: 4, FirstByteMs: 1000},
				{ID: b1, State: api.TaskPending},
				{ID: "nope", State: api.TaskDone},
				{ID: a2, State: api.TaskDone, Have: 99},
			},
			changed: []string{a1},
			check: func(t *testing.T) {
				want := asg("d1", "h1", api.RoleClient, api.TaskDownloading)
				want.Have, want.BytesBT, want.BytesHTTPRelay, want.BytesHTTPOrigin, want.BytesUp, want.Peers = 10, 7, 2, 1, 3, 4
				want.FirstByteAt, want.UpdatedAt = time.UnixMilli(1000).UTC(), t0.Add(time.Second)
				if got := get(t, a1); got != want {
					t.Errorf("a1 = %+v, want %+v", got, want)
				}
				if got := get(t, a2); got.State != api.TaskPending || got.Have != 0 || !got.UpdatedAt.IsZero() {
					t.Errorf("another host's assignment changed: %+v", got)
				}
				if got := get(t, b1); !got.UpdatedAt.Equal(t0.Add(time.Second)) {
					t.Errorf("b1 updated_at = %v", got.UpdatedAt)
				}
			},
		},
		{
			name: "same state, first byte kept", host: "h1", now: t0.Add(2 * time.Second),
			reports: []api.TaskReport{{ID: a1, State: api.TaskDownloading, Have: 20, FirstByteMs: 2000}},
			changed: nil,
			check: func(t *testing.T) {
				got := get(t, a1)
				if got.Have != 20 || got.FirstByteAt != time.UnixMilli(1000).UTC() || got.UpdatedAt != t0.Add(2*time.Second) {
					t.Errorf("a1 = %+v", got)
				}
			},
		},
		{
			name: "failure with error", host: "h1", now: t0.Add(3 * time.Second),
			reports: []api.TaskReport{{ID: a1, State: api.TaskFailed, Have: 20, Error: "disk full"}},
			changed: []string{a1},
			check: func(t *testing.T) {
				if got := get(t, a1); got.State != api.TaskFailed || got.Error != "disk full" || got.FirstByteAt.IsZero() {
					t.Errorf("a1 = %+v", got)
				}
			},
		},
		{
			name: "done clears the error, sets done once", host: "h1", now: t0.Add(4 * time.Second),
			reports: []api.TaskReport{{ID: a1, State: api.TaskDone, Have: 30, DoneMs: 5000}, {ID: b1, State: api.TaskWaiting}},
			changed: []string{a1, b1},
			check: func(t *testing.T) {
				got := get(t, a1)
				if got.Error != "" || got.DoneAt != time.UnixMilli(5000).UTC() || got.FirstByteAt != time.UnixMilli(1000).UTC() {
					t.Errorf("a1 = %+v", got)
				}
			},
		},
		{
			name: "seeding without done_ms keeps done_at; empty state keeps state", host: "h1", now: t0.Add(5 * time.Second),
			reports: []api.TaskReport{{ID: a1, State: api.TaskSeeding, Have: 30, DoneMs: 6000}, {ID: b1, Have: 5}},
			changed: []string{a1},
			check: func(t *testing.T) {
				if got := get(t, a1); got.State != api.TaskSeeding || got.DoneAt != time.UnixMilli(5000).UTC() {
					t.Errorf("a1 = %+v", got)
				}
				if got := get(t, b1); got.State != api.TaskWaiting || got.Have != 5 {
					t.Errorf("b1 = %+v", got)
				}
			},
		},
		{
			name: "another host reports its own", host: "h2", now: t0.Add(6 * time.Second),
			reports: []api.TaskReport{{ID: a1, State: api.TaskFailed}, {ID: a2, State: api.TaskDownloading}},
			changed: []string{a2},
			check: func(t *testing.T) {
				if got := get(t, a1); got.State != api.TaskSeeding {
					t.Errorf("h2 changed h1's assignment: %+v", got)
				}
			},
		},
	}
	for _, st := range steps {
		changed, err := s.ApplyReport(ctx, st.host, st.reports, st.now)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !slices.Equal(changed, st.changed) {
			t.Errorf("%s: changed = %v, want %v", st.name, changed, st.changed)
		}
		t.Run(st.name, st.check)
	}
}

func testHostTasks(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	now := t0.Add(24 * time.Hour)
	keep := time.Hour
	// Created in the reverse of creation time, to see the ordering come from created_at.
	dists := []struct {
		id    string
		state api.DistState
		ended time.Time
	}{
		{"edge", api.DistComplete, now.Add(-keep)}, // ended exactly keep ago: out
		{"noend", api.DistComplete, time.Time{}},
		{"cancelled", api.DistCancelled, now.Add(-time.Minute)},
		{"failed", api.DistFailed, now.Add(-time.Minute)},
		{"partial", api.DistPartial, now.Add(-59 * time.Minute)},
		{"old", api.DistComplete, now.Add(-2 * time.Hour)},
		{"complete", api.DistComplete, now.Add(-30 * time.Minute)},
		{"active", api.DistActive, time.Time{}},
		{"pending", api.DistPending, time.Time{}},
	}
	for i, d := range dists {
		dd := dist(d.id, t0.Add(time.Duration(len(dists)-i)*time.Minute), d.state)
		dd.EndedAt = d.ended
		as := []api.Assignment{asg(d.id, "h1", api.RoleClient, api.TaskPending), asg(d.id, "h2", api.RoleClient, api.TaskPending)}
		if d.id == "active" {
			as = append(as, asg(d.id, "h1", api.RoleRelay, api.TaskSeeding))
		}
		mustCreate(t, s, dd, []byte("meta-"+d.id), as...)
	}

	cases := []struct {
		host string
		keep time.Duration
		want []string
	}{
		{"h1", keep, []string{"pending/h1/client", "active/h1/relay", "active/h1/client", "complete/h1/client", "partial/h1/client"}},
		{"h1", 0, []string{"pending/h1/client", "active/h1/relay", "active/h1/client"}},
		{"h1", 3 * time.Hour, []string{"pending/h1/client", "active/h1/relay", "active/h1/client", "complete/h1/client", "old/h1/client", "partial/h1/client", "edge/h1/client"}},
		{"h2", keep, []string{"pending/h2/client", "active/h2/client", "complete/h2/client", "partial/h2/client"}},
		{"h3", keep, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s keep %v", c.host, c.keep), func(t *testing.T) {
			ts, err := s.HostTasks(ctx, c.host, now, c.keep)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, task := range ts {
				ids = append(ids, task.Assignment.ID)
				d := task.Distribution
				if d.ID != task.Assignment.DistID || d.Source != "http://origin/"+d.ID ||
					string(d.Metainfo) != "meta-"+d.ID || !slices.Equal(d.Selectors, []string{"all"}) {
					t.Errorf("task %s distribution = %+v", task.Assignment.ID, d)
				}
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("tasks = %v, want %v", ids, c.want)
			}
		})
	}
}

func testEvents(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	add := []Event{
		{At: t0, DistID: "d1", Kind: "created", Msg: "one"},
		{At: t0.Add(time.Second), DistID: "d2", Host: "h1", Kind: "state", Msg: "two"},
		{At: t0.Add(2 * time.Second), DistID: "d1", Host: "h2", Kind: "failed", Msg: "three"},
		{Kind: "relay", Msg: "four"}, // zero At: stamped now
	}
	for _, e := range add {
		if err := s.AddEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Events(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range all {
		msgs = append(msgs, e.Msg)
	}
	if want := []string{"four", "three", "two", "one"}; !slices.Equal(msgs, want) {
		t.Errorf("events = %v, want %v", msgs, want)
	}
	if all[0].At.IsZero() {
		t.Error("event without a time was not stamped")
	}
	want := add[2]
	want.ID = all[1].ID
	d1, err := s.Events(ctx, "d1", 1)
	if err != nil || len(d1) != 1 || d1[0] != want {
		t.Errorf("events of d1, limit 1 = %+v, %v; want [%+v]", d1, err, want)
	}
}

func testDurability(t *testing.T, b backend) {
	ctx := context.Background()
	open := b.place(t)
	s := open(t)
	if err := s.UpsertHost(ctx, api.Host{Name: "h1", Labels: map[string]string{"a": "b"}, Roles: []api.Role{api.RoleClient}, LastSeen: t0}); err != nil {
		t.Fatal(err)
	}
	d := dist("d1", t0, api.DistActive)
	mustCreate(t, s, d, []byte("meta"), asg("d1", "r1", api.RoleRelay, api.TaskSeeding), asg("d1", "h1", api.RoleClient, api.TaskPending))
	if _, err := s.ApplyReport(ctx, "h1", []api.TaskReport{{ID: "d1/h1/client", State: api.TaskDone, Have: 1 << 20, BytesBT: 1 << 20, FirstByteMs: 1, DoneMs: 2}}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDistributionState(ctx, "d1", api.DistComplete, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddEvent(ctx, Event{At: t0, DistID: "d1", Kind: "state", Msg: "complete"}); err != nil {
		t.Fatal(err)
	}

	type snapshot struct {
		Hosts  []api.Host
		Dists  []api.Distribution
		Dist   api.Distribution
		Tasks  []HostTask
		Events []Event
	}
	take := func(s testStore) snapshot {
		t.Helper()
		var sn snapshot
		var err error
		if sn.Hosts, err = s.Hosts(ctx); err != nil {
			t.Fatal(err)
		}
		if sn.Dists, err = s.Distributions(ctx); err != nil {
			t.Fatal(err)
		}
		if sn.Dist, err = s.Distribution(ctx, "d1"); err != nil {
			t.Fatal(err)
		}
		if sn.Tasks, err = s.HostTasks(ctx, "h1", t0.Add(2*time.Minute), time.Hour); err != nil {
			t.Fatal(err)
		}
		if sn.Events, err = s.Events(ctx, "", 0); err != nil {
			t.Fatal(err)
		}
		return sn
	}
	before := take(s)
	if len(before.Hosts) != 1 || len(before.Dists) != 1 || len(before.Dist.Assignments) != 2 ||
		len(before.Tasks) != 1 || len(before.Events) != 1 || before.Dist.Done != 1 {
		t.Fatalf("unexpected state before close: %+v", before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t)
	if after := take(s); !reflect.DeepEqual(after, before) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", after, before)
	}
}

func testConcurrentReportsAndReads(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	const workers, rounds = 50, 20
	var as []api.Assignment
	for i := range workers {
		as = append(as, asg("d1", fmt.Sprintf("h%02d", i), api.RoleClient, api.TaskPending))
	}
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, as...)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	for i := range workers {
		host := fmt.Sprintf("h%02d", i)
		wg.Go(func() {
			<-start
			fail := func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			if err := s.UpsertHost(ctx, api.Host{Name: host, LastSeen: t0}); err != nil {
				fail(err)
			}
			for r := 1; r <= rounds; r++ {
				state := api.TaskDownloading
				if r == rounds {
					state = api.TaskDone
				}
				rep := []api.TaskReport{{ID: api.AssignmentID("d1", host, api.RoleClient), State: state, Have: int64(r), FirstByteMs: int64(r)}}
				if _, err := s.ApplyReport(ctx, host, rep, t0.Add(time.Duration(r)*time.Second)); err != nil {
					fail(err)
				}
				if err := s.TouchHost(ctx, host, t0.Add(time.Duration(r)*time.Second)); err != nil {
					fail(err)
				}
				if err := s.AddEvent(ctx, Event{DistID: "d1", Host: host, Kind: "state", Msg: string(state)}); err != nil {
					fail(err)
				}
				if _, err := s.Distribution(ctx, "d1"); err != nil {
					fail(err)
				}
				if _, err := s.Distributions(ctx); err != nil {
					fail(err)
				}
				if _, err := s.HostTasks(ctx, host, t0, time.Hour); err != nil {
					fail(err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}

	d, err := s.Distribution(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Targets != workers || d.Done != workers || d.Have != workers*rounds {
		t.Errorf("aggregates = targets %d done %d have %d, want %d %d %d", d.Targets, d.Done, d.Have, workers, workers, workers*rounds)
	}
	for _, a := range d.Assignments {
		if a.FirstByteAt != time.UnixMilli(1).UTC() {
			t.Errorf("%s first byte = %v, want the first report's", a.ID, a.FirstByteAt)
		}
	}
	es, err := s.Events(ctx, "d1", 0)
	if err != nil || len(es) != workers*rounds {
		t.Errorf("events = %d, %v; want %d", len(es), err, workers*rounds)
	}
	hs, err := s.Hosts(ctx)
	if err != nil || len(hs) != workers || !hs[0].LastSeen.Equal(t0.Add(rounds*time.Second)) {
		t.Errorf("hosts = %d, %v", len(hs), err)
	}
}

// A host's report that crossed the controller's decision (a deadline, the origin's final answer)
// does not reopen a failed task: the distribution could otherwise come back to life.
func testReportDoesNotReopenFailedTask(t *testing.T, b backend) {
	ctx := context.Background()
	s := openTest(t, b)
	mustCreate(t, s, dist("d1", t0, api.DistActive), nil, asg("d1", "h1", api.RoleClient, api.TaskWaiting))
	if ok, err := s.EndAssignment(ctx, "d1/h1/client", api.TaskFailed, "the origin's answer is final", t0); err != nil || !ok {
		t.Fatalf("end assignment: %v %v", ok, err)
	}
	changed, err := s.ApplyReport(ctx, "h1", []api.TaskReport{{ID: "d1/h1/client", State: api.TaskWaiting, Have: 5}}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	as, err := s.Assignments(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 0 || as[0].State != api.TaskFailed {
		t.Fatalf("a late waiting report reopened the failed task: changed %v, state %s", changed, as[0].State)
	}
}
