package store

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/quota"
	"dist/core/store/pgtest"
)

// storeDump is everything a Store answers, to compare two stores row for row.
type storeDump struct {
	Hosts    []api.Host
	Dists    []api.Distribution
	Full     []api.Distribution // each with assignments and metainfo
	Events   []Event
	Samples  []Sample
	Lifes    map[string]DistLifecycle
	Origins  []Origin
	Tokens   []Token
	Audit    []AuditEntry
	Tasks    []HostTask
	RelayRts []RelayRate
}

func dumpStore(t *testing.T, s testStore) storeDump {
	t.Helper()
	ctx := context.Background()
	var (
		d   storeDump
		err error
	)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	d.Hosts, err = s.Hosts(ctx)
	must(err)
	d.Dists, err = s.Distributions(ctx)
	must(err)
	for _, x := range d.Dists {
		full, err := s.Distribution(ctx, x.ID)
		must(err)
		d.Full = append(d.Full, full)
		ss, err := s.Samples(ctx, x.ID)
		must(err)
		d.Samples = append(d.Samples, ss...)
	}
	d.Events, err = s.Events(ctx, "", 0)
	must(err)
	d.Lifes, err = s.Lifecycles(ctx)
	must(err)
	d.Origins, err = s.Origins(ctx)
	must(err)
	d.Tokens, err = s.Tokens(ctx)
	must(err)
	d.Audit, err = s.Audit(ctx, 0)
	must(err)
	d.Tasks, err = s.HostTasks(ctx, "c1", t0, time.Hour)
	must(err)
	d.RelayRts, err = s.RelayRates(ctx, 10)
	must(err)
	return d
}

// fillStore writes a row of every kind through the Store API.
func fillStore(t *testing.T, s testStore) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []api.Host{
		{Name: "c1", Labels: map[string]string{"site": "a"}, Roles: []api.Role{api.RoleClient}, LastSeen: t0},
		{Name: "r1", Labels: map[string]string{"site": "a"}, Roles: []api.Role{api.RoleRelay}, HTTPURL: "http://r1:7700", LastSeen: t0},
	} {
		must(s.UpsertHost(ctx, h))
	}
	d1 := dist("d1", t0, api.DistActive)
	d1.Settings = &api.Settings{}
	c1 := asg("d1", "c1", api.RoleClient, api.TaskDone)
	c1.Have, c1.FirstByteAt, c1.DoneAt = 1<<20, t0, t0.Add(time.Second)
	mustCreate(t, s, d1, []byte("d8:announce0:e"), asg("d1", "r1", api.RoleRelay, api.TaskSeeding), c1)
	mustCreate(t, s, dist("d2", t0.Add(time.Minute), api.DistPending), nil, asg("d2", "c1", api.RoleClient, ""))
	must(s.SetLifecycle(ctx, "d2", t0.Add(time.Hour), 3))
	_, err := s.ApplyReport(ctx, "c1", []api.TaskReport{{ID: "d2/c1/client", State: api.TaskDownloading, Have: 5,
		Mode: "assisting", ModeReason: "slow", ModeChanges: []api.ModeChange{{AtMs: 1234}}}}, t0)
	must(err)
	for i := range 3 {
		must(s.AddEvent(ctx, Event{At: t0.Add(time.Duration(i) * time.Second), DistID: "d1", Kind: "state", Msg: "m"}))
	}
	must(s.AddSamples(ctx, []Sample{
		{DistID: "d1", Host: "c1", Role: api.RoleClient, At: t0, Have: 1},
		{DistID: "d1", Host: "c1", Role: api.RoleClient, At: t0, Have: 2}, // same ms: the order is kept
	}))
	must(s.PutOriginLimits(ctx, "https://o.example", quota.Limits{MaxConns: 6, MaxRate: 1e6, MaxBytes: 1e9, Window: time.Hour}, t0))
	must(s.PutOriginSnapshot(ctx, "https://o.example", quota.Snapshot{WindowStart: t0, Spent: 99, Factor: 0.25}, t0))
	must(s.CreateToken(ctx, Token{Name: "ci", Hash: "abc", Role: "read", CreatedAt: t0, CreatedBy: "admin"}))
	must(s.AddAudit(ctx, AuditEntry{At: t0, Who: "admin", Role: "admin", Action: "token.create", Target: "ci", Status: 201, Result: "ok"}))
}

// A copy from SQLite to PostgreSQL answers the same through every read of the Store, keeps ids,
// lets new rows follow the copied ones, and refuses a target that holds data.
func TestCopyToPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := openSQLite(t)
	fillStore(t, src)
	dst, err := OpenPostgres(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()

	counts, err := CopyToPostgres(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		got[c.Table] = c.Rows
	}
	want := map[string]int64{"hosts": 2, "distributions": 2, "assignments": 3, "events": 3, "samples": 2,
		"origins": 1, "tokens": 1, "audit": 1, "host_approvals": 0, "revocations": 0, "trust_epoch": 0, "fleet_ca": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("copied rows %v, want %v", got, want)
	}
	before, after := dumpStore(t, src), dumpStore(t, dst)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after copy:\n got %+v\nwant %+v", after, before)
	}

	// New rows get ids after the copied ones.
	if err := dst.AddEvent(ctx, Event{At: t0, Kind: "state", Msg: "next"}); err != nil {
		t.Fatal(err)
	}
	es, err := dst.Events(ctx, "", 1)
	if err != nil || len(es) != 1 || es[0].Msg != "next" || es[0].ID <= before.Events[0].ID {
		t.Errorf("event after copy = %+v, %v; want id above %d", es, err, before.Events[0].ID)
	}

	// A second copy into the same database is refused and changes nothing.
	if _, err := CopyToPostgres(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "empty database") {
		t.Fatalf("copy into a database with data: %v, want a refusal", err)
	}
	if hs, err := dst.Hosts(ctx); err != nil || len(hs) != 2 {
		t.Errorf("hosts after a refused copy: %d, %v", len(hs), err)
	}
}
