package cli

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/store"
	"dist/daemon/controller"
)

// TestTokenAndAuditCommands: an admin creates a named token, the token works with its role,
// revoking it locks it out, and dist audit lists who did it.
func TestTokenAndAuditCommands(t *testing.T) {
	isolate(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(controller.New(st, controller.Options{AdminToken: testToken, HostToken: "host"}).Handler())
	defer srv.Close()
	admin := []string{"--controller", srv.URL, "--token", testToken}

	r := runCLI(t, append([]string{"token", "create", "--name", "dash", "--role", "read"}, admin...)...)
	secret := strings.TrimSpace(r.stdout)
	if r.code != ExitOK || !strings.HasPrefix(secret, "dist_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "not shown again") {
		t.Errorf("token create says nothing about keeping the secret:\n%s", r.stderr)
	}
	reader := []string{"--controller", srv.URL, "--token", secret}
	if r := runCLI(t, append([]string{"ls"}, reader...)...); r.code != ExitOK {
		t.Errorf("ls with a read token: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, append([]string{"token", "ls"}, reader...)...); r.code != ExitUnauthorized {
		t.Errorf("token ls with a read token: exit %d, want %d", r.code, ExitUnauthorized)
	}
	r = runCLI(t, append([]string{"token", "ls"}, admin...)...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "dash") || !strings.Contains(r.stdout, "read") || strings.Contains(r.stdout, secret) {
		t.Errorf("token ls: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, append([]string{"token", "revoke", "dash"}, admin...)...); r.code != ExitOK {
		t.Fatalf("token revoke: exit %d\n%s", r.code, r.stderr)
	}
	if r := runCLI(t, append([]string{"ls"}, reader...)...); r.code != ExitUnauthorized {
		t.Errorf("ls with a revoked token: exit %d, want %d", r.code, ExitUnauthorized)
	}
	if r := runCLI(t, append([]string{"token", "revoke", "dash"}, admin...)...); r.code != ExitNotFound {
		t.Errorf("revoking twice: exit %d, want %d", r.code, ExitNotFound)
	}
	if r := runCLI(t, append([]string{"token", "create", "--name", "x", "--role", "root"}, admin...)...); r.code != ExitUsage {
		t.Errorf("unknown role: exit %d, want %d", r.code, ExitUsage)
	}

	r = runCLI(t, append([]string{"audit", "--json"}, admin...)...)
	var es []store.AuditEntry
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &es) != nil {
		t.Fatalf("audit --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Who+" "+e.Action+" "+e.Target)
	}
	// Newest first; the refused and the failed attempts are there too.
	want := []string{"admin token.revoke dash", "admin token.revoke dash", "admin token.ls ", "dash token.ls ", "admin token.create dash"}
	if strings.Join(actions, ",") != strings.Join(want, ",") || es[0].Status != 404 || es[1].Status != 204 || es[3].Status != 403 {
		t.Errorf("audit: %q (statuses %v), want %q", actions, es, want)
	}
	r = runCLI(t, append([]string{"audit"}, admin...)...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "ACTION") || !strings.Contains(r.stdout, "token.revoke") {
		t.Errorf("audit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
