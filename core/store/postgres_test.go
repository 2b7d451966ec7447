package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store/pgtest"
)

// The PostgreSQL migrations mirror the SQLite ones one for one, so that both schemas stand at the
// same version after the same program.
func TestPostgresMigrationsMirrorSQLite(t *testing.T) {
	t.Parallel()
	lite, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pgMigrations()
	if err != nil {
		t.Fatal(err)
	}
	var ln, pn []string
	for _, m := range lite {
		ln = append(ln, m.name)
	}
	for _, m := range pg {
		pn = append(pn, m.name)
	}
	if !slices.Equal(ln, pn) {
		t.Fatalf("postgres migrations %v, want the SQLite ones %v", pn, ln)
	}
}

func pgVersion(t *testing.T, p *Postgres) int {
	t.Helper()
	var v int
	if err := p.db.QueryRow(`SELECT version FROM dist_schema`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Controllers starting at once on an empty database migrate it once: every open succeeds (without
// the lock, concurrent CREATE TABLE statements fail), the schema is at the latest version, a
// reopen applies nothing, and a schema from a newer program is refused.
func TestPostgresOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	ms, err := pgMigrations()
	if err != nil {
		t.Fatal(err)
	}
	const controllers = 4
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stores = make([]*Postgres, controllers)
		errs   = make([]error, controllers)
	)
	for i := range controllers {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = OpenPostgres(ctx, dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("controller %d: open: %v", i, err)
		}
		defer stores[i].Close()
	}
	if v := pgVersion(t, stores[0]); v != len(ms) {
		t.Errorf("schema version = %d, want %d", v, len(ms))
	}
	var rows int
	if err := stores[0].db.QueryRow(`SELECT count(*) FROM dist_schema`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("dist_schema rows = %d, %v; want 1", rows, err)
	}
	for _, name := range []string{"hosts", "distributions", "assignments", "events", "origins", "samples", "tokens", "audit"} {
		var n int
		if err := stores[0].db.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1`,
			name).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: count %d, %v", name, n, err)
		}
	}
	if err := stores[1].UpsertHost(ctx, api.Host{Name: "h1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[2].Host(ctx, "h1"); err != nil {
		t.Errorf("a host written through one controller, read through another: %v", err)
	}

	// Reopening applies nothing again (a second CREATE TABLE would fail) and keeps the data.
	again, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer again.Close()
	if _, err := again.Host(ctx, "h1"); err != nil {
		t.Errorf("host after reopen: %v", err)
	}

	if _, err := again.db.Exec(`UPDATE dist_schema SET version = $1`, len(ms)+1); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenPostgres(ctx, dsn); err == nil {
		s.Close()
		t.Fatal("open of a newer schema succeeded")
	}
}

// Two controllers apply reports and heartbeats for the same assignments at once, each batch in
// its own order: no batch fails (row locks are taken in one order, and an aborted transaction is
// run again), and each assignment's move out of pending is answered as a change exactly once, as
// with SQLite's single writer.
func TestPostgresConcurrentControllers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := pgtest.DSN(t)
	var ctrls [2]*Postgres
	for i := range ctrls {
		s, err := OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctrls[i] = s
	}
	const hosts, workers, rounds = 30, 8, 10
	var as []api.Assignment
	for i := range hosts {
		name := fmt.Sprintf("h%02d", i)
		as = append(as, asg("d1", name, api.RoleClient, api.TaskPending))
		if err := ctrls[0].UpsertHost(ctx, api.Host{Name: name, LastSeen: t0}); err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(t, ctrls[0], dist("d1", t0, api.DistActive), nil, as...)

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changes = map[string]int{}
		errs    []error
		start   = make(chan struct{})
	)
	for w := range workers {
		st := ctrls[w%2]
		wg.Go(func() {
			<-start
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for r := range rounds {
				order := rng.Perm(hosts)
				var batch []HostReport
				seen := map[string]time.Time{}
				for _, i := range order {
					name := fmt.Sprintf("h%02d", i)
					batch = append(batch, HostReport{Host: name, At: t0.Add(time.Duration(r) * time.Second),
						Tasks: []api.TaskReport{{ID: api.AssignmentID("d1", name, api.RoleClient),
							State: api.TaskDownloading, Have: int64(r)}}})
					seen[name] = t0.Add(time.Duration(w*rounds+r) * time.Second)
				}
				changed, err := st.ApplyReports(ctx, batch)
				if err == nil {
					err = st.TouchHosts(ctx, seen)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, id := range changed {
					changes[id]++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d batches failed, first: %v", len(errs), errs[0])
	}
	for _, a := range as {
		if changes[a.ID] != 1 {
			t.Errorf("%s answered as changed %d times, want once", a.ID, changes[a.ID])
		}
	}
	hs, err := ctrls[1].Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newest := t0.Add(time.Duration(workers*rounds-1) * time.Second)
	for _, h := range hs {
		if !h.LastSeen.Equal(newest) {
			t.Errorf("host %s last seen %v, want the newest heartbeat %v", h.Name, h.LastSeen, newest)
		}
	}
}

func TestOpenSpec(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	def := filepath.Join(dir, "controller.db")
	s, err := OpenSpec(ctx, "", def)
	if err != nil {
		t.Fatal(err)
	}
	if lite, ok := s.(*SQLite); !ok || lite.path != def {
		t.Errorf("no spec opened %T, want SQLite at %s", s, def)
	}
	s.Close()
	other := filepath.Join(dir, "other.db")
	s, err = OpenSpec(ctx, "sqlite:"+other, def)
	if err != nil {
		t.Fatal(err)
	}
	if lite, ok := s.(*SQLite); !ok || lite.path != other {
		t.Errorf("sqlite: spec opened %T, want SQLite at %s", s, other)
	}
	s.Close()
	for _, bad := range []string{"sqlite:", "mysql://u:secret@h/db", "controller.db"} {
		if s, err := OpenSpec(ctx, bad, def); err == nil {
			s.Close()
			t.Errorf("spec %q opened", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("spec %q: error %q shows the password", bad, err)
		}
	}

	dsn := pgtest.DSN(t)
	s, err = OpenSpec(ctx, dsn, def)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*Postgres); !ok {
		t.Errorf("spec %s opened %T, want Postgres", dsn, s)
	}
}

func TestSpecHasPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec string
		want bool
	}{
		{"postgres://dist@db:5432/dist", false},
		{"postgresql://dist@db/dist?sslmode=require", false},
		{"postgres://dist:secret@db:5432/dist", true},
		{"postgres://dist@db/dist?password=secret", true},
		{"postgres://dist:@db/dist", true}, // an empty password is still one given here
		{"sqlite:/var/lib/dist/controller.db", false},
		{"", false},
	}
	for _, c := range cases {
		if got := SpecHasPassword(c.spec); got != c.want {
			t.Errorf("SpecHasPassword(%q) = %v, want %v", c.spec, got, c.want)
		}
	}
	if r := RedactSpec("postgres://dist:secret@db/dist"); strings.Contains(r, "secret") {
		t.Errorf("redacted %q still shows the password", r)
	}
}

// A refused connection is reported naming the database, never its password.
func TestPostgresOpenErrorHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := OpenPostgres(context.Background(), "postgres://u:secret@127.0.0.1:1/db?connect_timeout=2")
	if err == nil {
		t.Fatal("open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "secret") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error %q: want the host named and the password left out", err)
	}
}

func TestResolveSpec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	withPass := filepath.Join(dir, "store.url")
	if err := os.WriteFile(withPass, []byte("postgres://dist:secret@db/dist\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.url")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, value, file string
		want              string // "" with wantErr
		wantErr           string
	}{
		{name: "default", want: ""},
		{name: "url without password", value: "postgres://dist@db/dist", want: "postgres://dist@db/dist"},
		{name: "sqlite path", value: "sqlite:/var/lib/dist/c.db", want: "sqlite:/var/lib/dist/c.db"},
		{name: "password in the value", value: "postgres://dist:secret@db/dist", wantErr: "PGPASSWORD"},
		{name: "password in the file", file: withPass, want: "postgres://dist:secret@db/dist"},
		{name: "both", value: "postgres://dist@db/dist", file: withPass, wantErr: "not both"},
		{name: "empty file", file: empty, wantErr: "is empty"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "store file"},
	}
	for _, c := range cases {
		got, err := ResolveSpec(c.value, c.file)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: err = %v, want one saying %q without the password", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}
