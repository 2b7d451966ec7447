package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dist/plugins"
)

func TestPluginLs(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	for _, name := range []string{"dist-plugin-partition", "dist-plugin-sitepolicy", "unrelated"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "plugin", "ls", "--plugin-dir", dir, "--json")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var found []plugins.Found
	if err := json.Unmarshal([]byte(r.stdout), &found); err != nil {
		t.Fatalf("not JSON: %v: %s", err, r.stdout)
	}
	if len(found) != 2 || found[0].Name != "partition" || found[1].Name != "sitepolicy" {
		t.Fatalf("found %+v", found)
	}
	r = runCLI(t, "plugin", "ls", "--plugin-dir", dir)
	if r.code != ExitOK || !strings.Contains(r.stdout, "sitepolicy") || strings.Contains(r.stdout, "unrelated") {
		t.Fatalf("exit %d stdout %q", r.code, r.stdout)
	}
}

func TestPluginCheckErrors(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	r := runCLI(t, "plugin", "check", "nope", "--plugin-dir", dir)
	if r.code != ExitNotFound || !strings.Contains(r.stderr, "install dist-plugin-nope") {
		t.Fatalf("missing plugin: exit %d stderr %q", r.code, r.stderr)
	}
	// An executable that is no plugin fails the handshake with a clear error, not a hang.
	if err := os.WriteFile(filepath.Join(dir, "dist-plugin-fake"), []byte("#!/bin/sh\necho not a plugin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "plugin", "check", "fake", "--plugin-dir", dir, "--timeout", "5s")
	if r.code != ExitFailed || !strings.Contains(r.stderr, "plugin fake") {
		t.Fatalf("fake plugin: exit %d stderr %q", r.code, r.stderr)
	}
}
