package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

// TestOriginCommands runs dist origin set, get and ls against a real controller over a real store.
func TestOriginCommands(t *testing.T) {
	isolate(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(controller.New(st, controller.Options{AdminToken: testToken, HostToken: "host"}).Handler())
	defer srv.Close()
	flags := []string{"--controller", srv.URL, "--token", testToken}

	r := runCLI(t, append([]string{"origin", "set", "https://cdn.example.com/images/base.img",
		"--max-conns", "64", "--max-rate", "1Gbit/s", "--max-bytes", "2TB", "--window", "day"}, flags...)...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "https://cdn.example.com") {
		t.Fatalf("origin set: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, append([]string{"origin", "set", "https://cdn.example.com", "--max-conns", "32"}, flags...)...)
	if r.code != ExitOK {
		t.Fatalf("origin set again: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, append([]string{"origin", "get", "https://cdn.example.com", "--json"}, flags...)...)
	var got api.OriginStatus
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &got) != nil {
		t.Fatalf("origin get --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got.MaxConns != 32 || got.MaxRate != 125_000_000 || got.MaxBytes != 2_000_000_000_000 || got.WindowS != 86400 {
		t.Errorf("policy: %+v", got.OriginPolicy)
	}
	r = runCLI(t, append([]string{"origin", "ls"}, flags...)...)
	if r.code != ExitOK || !strings.Contains(r.stdout, "ORIGIN") || !strings.Contains(r.stdout, "0/32") {
		t.Errorf("origin ls: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, append([]string{"origin", "set", "https://cdn.example.com"}, flags...)...); r.code != ExitUsage {
		t.Errorf("origin set without limits: exit %d, want %d", r.code, ExitUsage)
	}
	if r := runCLI(t, append([]string{"origin", "get", "https://other.example.com"}, flags...)...); r.code != ExitNotFound {
		t.Errorf("origin get of an unknown origin: exit %d, want %d\n%s", r.code, ExitNotFound, r.stderr)
	}
}

// TestPushSetsOriginLimits: limits given on push are the origin's policy before the distribution.
func TestPushSetsOriginLimits(t *testing.T) {
	isolate(t)
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctl := controller.New(st, controller.Options{AdminToken: testToken, HostToken: "host",
		Probe: func(context.Context, string) (int64, error) { return 1 << 20, nil }})
	srv := httptest.NewServer(ctl.Handler())
	defer srv.Close()
	host := api.New(srv.URL, "host")
	if err := host.Register(context.Background(), api.Host{Name: "r1", Roles: []api.Role{api.RoleRelay, api.RoleClient}}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "push", "https://cdn.example.com/base.img", "--to", "r1", "--origin-max-conns", "8",
		"--origin-max-rate", "100Mbit/s", "--controller", srv.URL, "--token", testToken, "--set-origin-policy")
	if r.code != ExitOK {
		t.Fatalf("push: exit %d\n%s", r.code, r.stderr)
	}
	got, err := api.New(srv.URL, testToken).Origins(context.Background(), "https://cdn.example.com")
	if err != nil || len(got) != 1 || got[0].MaxConns != 8 || got[0].MaxRate != 12_500_000 {
		t.Errorf("origin after push: %+v, %v", got, err)
	}
	// Without --set-origin-policy a push never changes the standing policy as a side effect.
	if r := runCLI(t, "push", "https://cdn.example.com/base.img", "--to", "r1", "--origin-max-conns", "2",
		"--controller", srv.URL, "--token", testToken); r.code != ExitUsage || !strings.Contains(r.stderr, "--set-origin-policy") {
		t.Errorf("push with --origin-max-conns alone: exit %d (%s), want %d naming --set-origin-policy", r.code, r.stderr, ExitUsage)
	}
	if got, _ := api.New(srv.URL, testToken).Origins(context.Background(), "https://cdn.example.com"); len(got) != 1 || got[0].MaxConns != 8 {
		t.Errorf("standing policy changed by a push without --set-origin-policy: %+v", got)
	}
	if r := runCLI(t, "push", "https://cdn.example.com/base.img", "--to", "r1", "--origin-max-rate", "fast",
		"--controller", srv.URL, "--token", testToken); r.code != ExitUsage {
		t.Errorf("push with a bad --origin-max-rate: exit %d, want %d", r.code, ExitUsage)
	}
}
