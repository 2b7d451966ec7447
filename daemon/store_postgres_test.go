package daemon_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/store"
	"dist/core/store/pgtest"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// TestPushOnPostgres: a controller whose store is PostgreSQL (--store postgres://…) runs a push
// to completion, every copy verified, and the distribution's end is in the database, where any
// other controller would read it.
func TestPushOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Private(t)
	const size = 8 << 20
	const clients = 2
	f := newFleetWith(t, func(c *daemon.Config) { c.Store = dsn })
	src := filepath.Join(f.dir, "src.img")
	sum, err := origin.Generate(src, size, 11)
	if err != nil {
		t.Fatal(err)
	}
	org, err := origin.Start(origin.Options{File: src})
	if err != nil {
		t.Fatal(err)
	}
	defer org.Close()
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	for i := 1; i <= clients; i++ {
		f.start(fmt.Sprintf("client-%d", i), []api.Role{api.RoleClient}, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, clients+2)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete || d.Targets != clients {
		t.Fatalf("state %s with %d targets, want complete with %d; assignments: %+v", d.State, d.Targets, clients, d.Assignments)
	}
	for i := 1; i <= clients; i++ {
		got, err := content.SHA256File(ctx, filepath.Join(f.dir, fmt.Sprintf("client-%d", i), "files", "src.img"))
		if err != nil || got != sum {
			t.Errorf("client-%d copy sha256 %s (%v), want %s", i, got, err, sum)
		}
	}
	pg, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	stored, err := pg.Distribution(ctx, d.ID)
	if err != nil || stored.State != api.DistComplete || stored.Done != clients {
		t.Fatalf("distribution in PostgreSQL: %s, %d done (%v); want complete, %d done", stored.State, stored.Done, err, clients)
	}
	hs, err := pg.Hosts(ctx)
	if err != nil || len(hs) != clients+2 {
		t.Errorf("hosts in PostgreSQL: %d (%v), want %d", len(hs), err, clients+2)
	}
}
