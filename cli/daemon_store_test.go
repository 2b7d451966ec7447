package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonStoreRefusesPassword: a PostgreSQL password given with --store, DIST_STORE or the
// config file is refused before anything starts, without echoing it; --store and --store-file
// together are refused too.
func TestDaemonStoreRefusesPassword(t *testing.T) {
	const url = "postgres://dist:hunter2@127.0.0.1:1/dist"
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) []string // answers extra arguments
		want  string
	}{
		{"flag", func(t *testing.T, dir string) []string { return []string{"--store", url} }, "PGPASSWORD"},
		{"environment", func(t *testing.T, dir string) []string {
			t.Setenv("DIST_STORE", url)
			return nil
		}, "PGPASSWORD"},
		{"config file", func(t *testing.T, dir string) []string {
			p := filepath.Join(dir, "config.json")
			writeConfig(t, p, map[string]any{"store": url})
			return []string{"--config", p}
		}, "PGPASSWORD"},
		{"flag and file", func(t *testing.T, dir string) []string {
			p := filepath.Join(dir, "store.url")
			if err := os.WriteFile(p, []byte(url), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--store", "postgres://dist@127.0.0.1:1/dist", "--store-file", p}
		}, "not both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolate(t)
			dir := t.TempDir()
			args := append([]string{"daemon", "--role", "controller", "--data", filepath.Join(dir, "data"),
				"--listen", "127.0.0.1:0", "--bt-listen", "127.0.0.1:0"}, c.setup(t, dir)...)
			r := runCLI(t, args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr+r.stdout, "hunter2") {
				t.Errorf("exit %d, stderr %q; want %d saying %q, the password not shown", r.code, r.stderr, ExitUsage, c.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "controller.db")); err == nil {
				t.Error("a refused store still opened the SQLite database")
			}
		})
	}
}
