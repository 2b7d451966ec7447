package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

// TestControllerBackup: dist controller backup writes a database that opens and holds the
// distributions of the running controller; a bad token and an existing file are refused.
func TestControllerBackup(t *testing.T) {
	isolate(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000).UTC()
	for _, id := range []string{"d1", "d2"} {
		d := api.Distribution{ID: id, Name: id + ".img", Source: "http://origin.test/" + id, Size: 1 << 20,
			Selectors: []string{"all"}, CreatedAt: now}
		if err := st.CreateDistribution(ctx, d, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(controller.New(st, controller.Options{AdminToken: testToken, HostToken: "host"}).Handler())
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "backup.db")

	r := runCLI(t, "controller", "backup", file, "--controller", srv.URL, "--token", "host")
	if r.code != ExitUnauthorized {
		t.Fatalf("backup with the host token: exit %d, want %d\n%s", r.code, ExitUnauthorized, r.stderr)
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused backup left a file")
	}
	r = runCLI(t, "controller", "backup", file, "--controller", srv.URL, "--token", testToken, "--json")
	var out struct {
		File  string `json:"file"`
		Bytes int64  `json:"bytes"`
	}
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &out) != nil || out.Bytes <= 0 {
		t.Fatalf("backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b, err := store.Open(file)
	if err != nil {
		t.Fatalf("open the backup: %v", err)
	}
	defer b.Close()
	ds, err := b.Distributions(ctx)
	if err != nil || len(ds) != 2 {
		t.Fatalf("backup holds %d distributions (%v), want 2", len(ds), err)
	}
	if r := runCLI(t, "controller", "backup", file, "--controller", srv.URL, "--token", testToken); r.code != ExitError {
		t.Errorf("backup over an existing file: exit %d, want %d\n%s", r.code, ExitError, r.stderr)
	}
	if r := runCLI(t, "controller", "backup", file, "--force", "--controller", srv.URL, "--token", testToken); r.code != ExitOK {
		t.Errorf("backup --force: exit %d\n%s", r.code, r.stderr)
	}
}
