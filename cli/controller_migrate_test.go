package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/core/store/pgtest"
)

// TestControllerMigrateRefusesBadInput: every wrong --from or --to is a usage error naming the
// problem, a password in --to is refused without being echoed, and a missing source is not created.
func TestControllerMigrateRefusesBadInput(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.db")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"from without sqlite:", []string{"--from", missing, "--to", "postgres://u@h/db"}, ExitUsage, "sqlite:PATH"},
		{"password in --to", []string{"--from", "sqlite:" + missing, "--to", "postgres://u:hunter2@h/db"}, ExitUsage, "PGPASSWORD"},
		{"to not postgres", []string{"--from", "sqlite:" + missing, "--to", "mysql://u@h/db"}, ExitUsage, "postgres://"},
		{"missing source", []string{"--from", "sqlite:" + missing, "--to", "postgres://u@127.0.0.1:1/db"}, ExitError, "nope.db"},
	}
	for _, c := range cases {
		r := runCLI(t, append([]string{"controller", "migrate"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "hunter2") {
			t.Errorf("%s: exit %d, stderr %q; want exit %d saying %q", c.name, r.code, r.stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("a refused migrate created the source database")
	}
}

// TestControllerMigrate: dist controller migrate copies a controller's SQLite database into an
// empty PostgreSQL database that a controller then reads, and refuses to copy twice.
func TestControllerMigrate(t *testing.T) {
	dsn := pgtest.Private(t)
	isolate(t)
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "controller.db")
	st, err := store.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_700_000_000_000).UTC()
	for _, id := range []string{"d1", "d2"} {
		d := api.Distribution{ID: id, Name: id + ".img", Source: "http://origin.test/" + id, Size: 1 << 20,
			Selectors: []string{"all"}, CreatedAt: now}
		if err := st.CreateDistribution(ctx, d, nil, []api.Assignment{{Host: "h1", Role: api.RoleClient}}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	r := runCLI(t, "controller", "migrate", "--from", "sqlite:"+file, "--to", dsn, "--json")
	var out struct {
		Tables []store.TableCopy `json:"tables"`
	}
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &out) != nil {
		t.Fatalf("migrate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rows := map[string]int64{}
	for _, tc := range out.Tables {
		rows[tc.Table] = tc.Rows
	}
	if rows["distributions"] != 2 || rows["assignments"] != 2 {
		t.Errorf("copied %v, want 2 distributions and 2 assignments", rows)
	}
	pg, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if ds, err := pg.Distributions(ctx); err != nil || len(ds) != 2 || ds[0].Targets != 1 {
		t.Errorf("distributions in PostgreSQL = %+v, %v; want 2 with one target each", ds, err)
	}
	if r := runCLI(t, "controller", "migrate", "--from", "sqlite:"+file, "--to", dsn); r.code != ExitError ||
		!strings.Contains(r.stderr, "empty database") {
		t.Errorf("second migrate: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
}
