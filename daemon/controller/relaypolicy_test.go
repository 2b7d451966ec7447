package controller_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"dist/core/api"
	"dist/core/selection"
	"dist/daemon/controller"
	"dist/plugins"
	"dist/plugins/sitepolicy"
)

// lockedBuffer is a log destination tests read while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// siteFleet registers two relays and two targets by address only (no site labels): the built-in
// policy cannot tell where they are and picks by name; the site map can.
func siteFleet(e *env) {
	e.t.Helper()
	for _, h := range []api.Host{
		{Name: "relay-east", Roles: []api.Role{api.RoleRelay}, BTAddr: "127.0.1.10:6881", HTTPURL: "http://127.0.1.10:7700"},
		{Name: "relay-west", Roles: []api.Role{api.RoleRelay}, BTAddr: "127.0.2.10:6881", HTTPURL: "http://127.0.2.10:7700"},
		{Name: "w1", Roles: []api.Role{api.RoleClient}, BTAddr: "127.0.2.21:6881", HTTPURL: "http://127.0.2.21:7700"},
		{Name: "w2", Roles: []api.Role{api.RoleClient}, BTAddr: "127.0.2.22:6881", HTTPURL: "http://127.0.2.22:7700"},
	} {
		if err := e.host.Register(ctxT(e.t), h); err != nil {
			e.t.Fatalf("register %s: %v", h.Name, err)
		}
	}
}

// pluginPolicy runs impl as a relay-policy plugin over a real gRPC connection.
func pluginPolicy(t *testing.T, name string, impl plugins.RelayPolicy) selection.Policy {
	t.Helper()
	rpc, _ := plugin.TestPluginGRPCConn(t, false, plugins.ServerSet(plugins.Info{Name: name}, impl))
	t.Cleanup(func() { rpc.Close() })
	c, err := plugins.Connect(context.Background(), rpc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.RelayPolicy()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSitePolicyPluginChoosesRelays(t *testing.T) {
	t.Parallel()
	builtin := newEnv(t)
	siteFleet(builtin)
	if _, relays := clientsOf(builtin.create("w1", "w2")); !slices.Equal(relays, []string{"relay-east"}) {
		t.Fatalf("built-in policy chose %v, want relay-east (first by name)", relays)
	}

	sites, err := sitepolicy.Parse(strings.NewReader("127.0.1.0/24 east\n127.0.2.0/24 west # the targets' LAN\n"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	e := newEnvWith(t, func(o *controller.Options) {
		o.Policy = pluginPolicy(t, "sitepolicy", sites)
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	siteFleet(e)
	if _, relays := clientsOf(e.create("w1", "w2")); !slices.Equal(relays, []string{"relay-west"}) {
		t.Fatalf("sitepolicy chose %v, want relay-west (same site as the targets)", relays)
	}
	if !strings.Contains(logs.String(), "relays chosen by policy") || !strings.Contains(logs.String(), "plugin sitepolicy") {
		t.Fatalf("no log of the plugin's choice: %s", logs)
	}
}

// stubPolicy is a relay-policy plugin that misbehaves on purpose.
type stubPolicy func(ctx context.Context, req selection.Request) ([]selection.Group, error)

func (f stubPolicy) ChooseRelays(ctx context.Context, req selection.Request) ([]selection.Group, error) {
	return f(ctx, req)
}

func TestRelayPolicyFallsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		impl   stubPolicy
		reason string
	}{
		{"fails", func(context.Context, selection.Request) ([]selection.Group, error) {
			return nil, errors.New("site map unreadable")
		}, "site map unreadable"},
		{"hangs", func(ctx context.Context, _ selection.Request) ([]selection.Group, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, "no answer within 200ms"},
		{"nonsense", func(context.Context, selection.Request) ([]selection.Group, error) {
			return []selection.Group{{Name: "x", Relays: []string{"w1"}}}, nil
		}, `relay \"w1\" of group \"x\" is not a candidate`},
		{"empty", func(context.Context, selection.Request) ([]selection.Group, error) {
			return nil, nil
		}, "no relay chosen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &lockedBuffer{}
			e := newEnvWith(t, func(o *controller.Options) {
				o.Policy = pluginPolicy(t, "stub", tc.impl)
				o.PolicyTimeout = 200 * time.Millisecond
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			siteFleet(e)
			if _, relays := clientsOf(e.create("w1", "w2")); !slices.Equal(relays, []string{"relay-east"}) {
				t.Fatalf("relays %v, want the built-in choice relay-east", relays)
			}
			out := logs.String()
			if !strings.Contains(out, "relay policy failed; using the built-in policy") || !strings.Contains(out, tc.reason) {
				t.Fatalf("fallback reason not logged (want %q): %s", tc.reason, out)
			}
		})
	}
}
