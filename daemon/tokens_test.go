package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/api"
	"dist/daemon"
)

// startController starts a bare controller on loopback with cfg's tokens and answers its
// effective configuration after stopping it.
func startController(t *testing.T, dir string, cfg daemon.Config) daemon.Config {
	t.Helper()
	sock, err := os.CreateTemp("", "dist-*.sock")
	if err != nil {
		t.Fatal(err)
	}
	sock.Close()
	os.Remove(sock.Name())
	cfg.Roles = []api.Role{api.RoleController}
	cfg.Name, cfg.Data, cfg.Socket = "ctl", dir, sock.Name()
	cfg.Listen, cfg.BTListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	d, err := daemon.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := d.Config()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	return got
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestControllerHostTokenNotFromCLIToken: the README has operators export DIST_TOKEN (the admin
// token) for the CLI; a controller restarted from that shell must keep its host token, or every
// daemon is locked out. A host token given explicitly replaces the kept one.
func TestControllerHostTokenNotFromCLIToken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startController(t, dir, daemon.Config{})
	kept := readFile(t, filepath.Join(dir, "host.token"))
	if first.HostToken != kept || kept == "" {
		t.Fatalf("first start: host token %q, file %q", first.HostToken, kept)
	}

	// Restarted with the CLI's token in the environment (DIST_TOKEN → Token).
	again := startController(t, dir, daemon.Config{Token: first.AdminToken})
	if again.HostToken != kept {
		t.Fatalf("restart with --token: host token became %q, want the kept %q", again.HostToken, kept)
	}
	if got := readFile(t, filepath.Join(dir, "host.token")); got != kept {
		t.Fatalf("host.token rewritten to %q", got)
	}

	// An explicit --host-token is a deliberate change: it replaces the file.
	changed := startController(t, dir, daemon.Config{HostToken: "a-new-host-token"})
	if changed.HostToken != "a-new-host-token" || readFile(t, filepath.Join(dir, "host.token")) != "a-new-host-token" {
		t.Fatalf("explicit host token not kept: config %q, file %q", changed.HostToken, readFile(t, filepath.Join(dir, "host.token")))
	}
}
