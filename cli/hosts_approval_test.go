package cli

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
	"dist/daemon"
)

// TestHostsApproveAndRevoke, with real daemons over TLS: a controller that requires approval
// lists a newly joined host as pending; dist hosts approve lets it in (admin only); dist hosts
// revoke makes its certificate refused (401) and it joins again only with a new join token,
// pending again; dist audit shows both actions.
func TestHostsApproveAndRevoke(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(name string, roles []api.Role, joinToken string, ctrl *daemon.Daemon) (*daemon.Daemon, error) {
		sock, err := os.CreateTemp("", "dist-*.sock") // socket paths must stay short
		if err != nil {
			t.Fatal(err)
		}
		sock.Close()
		os.Remove(sock.Name())
		cfg := daemon.Config{
			Roles: roles, Name: name, Listen: "127.0.0.1:0", BTListen: "127.0.0.1:0",
			Data: filepath.Join(dir, name), Socket: sock.Name(),
			AdminToken: testToken, HostToken: realHostToken, RequireApproval: true,
			Logger: slog.New(slog.DiscardHandler),
		}
		if ctrl != nil {
			cfg.Controller, cfg.JoinToken, cfg.CAFile = ctrl.HTTPURL(), joinToken, ctrl.CAFile()
		}
		d, err := daemon.Start(ctx, cfg)
		if err == nil {
			t.Cleanup(func() { d.Close() })
		}
		return d, err
	}
	ctrl, err := start("controller", []api.Role{api.RoleController}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) result {
		t.Helper()
		return runCLI(t, append(args, "--controller", ctrl.HTTPURL(), "--token", testToken, "--ca-file", ctrl.CAFile())...)
	}
	hostOf := func(name string) (api.Host, bool) {
		r := cli("hosts", "--json")
		var hs []api.Host
		if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &hs) != nil {
			t.Fatalf("hosts --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		i := slices.IndexFunc(hs, func(h api.Host) bool { return h.Name == name })
		if i < 0 {
			return api.Host{}, false
		}
		return hs[i], true
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !ok() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-tick.C:
			}
		}
	}

	c1, err := start("c1", []api.Role{api.RoleClient}, realHostToken, ctrl)
	if err != nil {
		t.Fatalf("start c1: %v", err)
	}
	waitFor("c1 registered", func() bool { _, ok := hostOf("c1"); return ok })
	if h, _ := hostOf("c1"); h.Access != "pending" || h.HTTPURL == "" {
		t.Fatalf("c1 joined under --require-approval: %+v, want pending with its address", h)
	}
	if r := cli("hosts"); r.code != ExitOK || !strings.Contains(r.stdout, "ACCESS") || !strings.Contains(r.stdout, "pending") {
		t.Errorf("dist hosts does not show c1 pending: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	reader := cli("token", "create", "--name", "dash", "--role", "read")
	if reader.code != ExitOK {
		t.Fatalf("token create: exit %d\n%s", reader.code, reader.stderr)
	}
	r := runCLI(t, "hosts", "approve", "c1", "--controller", ctrl.HTTPURL(), "--token", strings.TrimSpace(reader.stdout), "--ca-file", ctrl.CAFile())
	if r.code != ExitUnauthorized {
		t.Errorf("hosts approve with a read token: exit %d, want %d\n%s", r.code, ExitUnauthorized, r.stderr)
	}
	if r := cli("hosts", "approve", "c1", "nobody"); r.code != ExitNotFound || !strings.Contains(r.stdout, "host c1 approved") || !strings.Contains(r.stderr, "nobody") {
		t.Errorf("hosts approve c1 nobody: exit %d, want %d with c1 approved\n%s%s", r.code, ExitNotFound, r.stdout, r.stderr)
	}
	if h, _ := hostOf("c1"); h.Access != "" {
		t.Errorf("c1 after approval: access %q", h.Access)
	}

	if r := cli("hosts", "revoke", "c1"); r.code != ExitOK || !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("hosts revoke c1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if h, _ := hostOf("c1"); h.Access != "revoked" || h.Online {
		t.Errorf("c1 after revocation: %+v, want revoked and offline", h)
	}
	// The certificate c1 keeps in its data directory is refused.
	id, err := pki.LoadIdentity(filepath.Join(dir, "c1", "tls"))
	if err != nil {
		t.Fatal(err)
	}
	asC1 := api.New(ctrl.HTTPURL(), "")
	asC1.HTTP = &http.Client{Timeout: 10 * time.Second, Transport: api.NewTransport(&http.Transport{TLSClientConfig: id.ControllerConfig()})}
	var ae *api.StatusError
	if err := asC1.Register(ctx, api.Host{Name: "c1", Roles: []api.Role{api.RoleClient}}); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("c1's certificate after the revocation: %v, want refused as revoked", err)
	}
	c1.Close()

	// Joining again: not with the join secret it had, only with a join token made since.
	if err := os.RemoveAll(filepath.Join(dir, "c1", "tls")); err != nil {
		t.Fatal(err)
	}
	if _, err := start("c1", []api.Role{api.RoleClient}, realHostToken, ctrl); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("c1 joins again with its old join secret: %v, want refused as revoked", err)
	}
	fresh := cli("token", "create", "--name", "c1-again", "--role", "join")
	if fresh.code != ExitOK {
		t.Fatalf("token create: exit %d\n%s", fresh.code, fresh.stderr)
	}
	if _, err := start("c1", []api.Role{api.RoleClient}, strings.TrimSpace(fresh.stdout), ctrl); err != nil {
		t.Fatalf("c1 joins again with a new join token: %v", err)
	}
	waitFor("c1 registered again, pending", func() bool { h, _ := hostOf("c1"); return h.Access == "pending" })

	r = cli("audit", "--json")
	var es []store.AuditEntry
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &es) != nil {
		t.Fatalf("audit --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var got []string
	for _, e := range es {
		if strings.HasPrefix(e.Action, "host.") && e.Action != "host.join" {
			got = append(got, e.Who+" "+e.Action+" "+e.Target)
		}
	}
	want := []string{"admin host.revoke c1", "admin host.approve nobody", "admin host.approve c1", "dash host.approve c1"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit of host actions: %q, want %q", got, want)
	}
}
