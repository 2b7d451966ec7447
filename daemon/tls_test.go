package daemon_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// TestTLSFleet runs a fleet over TLS as in production and checks what the certificates decide:
// a push completes verified; hosts join only with a good token; a held name is kept from
// another key; a host is who its certificate says; a certificate of another CA opens nothing.
func TestTLSFleet(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, _ := relayFleet(ctx, t, 2)
	if !strings.HasPrefix(f.ctrl.HTTPURL(), "https://") {
		t.Fatalf("controller URL %s: TLS is not the default", f.ctrl.HTTPURL())
	}
	for _, name := range []string{"relay-1", "client-1"} {
		if st, err := os.Stat(filepath.Join(f.dir, name, "tls", pki.HostKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s key: %v (mode %v), want a 0600 file", name, err, st.Mode())
		}
	}
	_, d, sum := pushURL(ctx, t, f, 4<<20, origin.Options{})
	if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
		t.Fatalf("push over TLS ended %s: %+v", d.State, d.Assignments)
	}
	for _, c := range []string{"client-1", "client-2"} {
		got, err := os.ReadFile(filepath.Join(f.dir, c, "files", "src.img"))
		if err != nil || len(got) != 4<<20 {
			t.Fatalf("%s copy: %d bytes, %v", c, len(got), err)
		}
	}
	_ = sum
	base := f.ctrl.HTTPURL()

	t.Run("join tokens", func(t *testing.T) {
		var tok controllerToken
		if err := f.admin.Do(ctx, http.MethodPost, "/v1/tokens", map[string]any{"name": "j1", "role": "join", "ttl_s": 1}, &tok); err != nil {
			t.Fatal(err)
		}
		if err := f.admin.Do(ctx, http.MethodPost, "/v1/tokens", map[string]any{"name": "j2", "role": "join"}, nil); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, token, host string
			status            int
		}{
			{"no token", "", "new-1", http.StatusUnauthorized},
			{"wrong token", "not-a-token", "new-1", http.StatusUnauthorized},
			{"name held by another key", hostToken, "client-1", http.StatusConflict},
			{"admin takes a held name over", adminToken, "taken-over", http.StatusOK},
			{"host token joins", hostToken, "new-1", http.StatusOK},
		}
		// "taken-over" must be held first for the admin case to mean anything.
		if _, err := joinAs(ctx, base, f.admin.HTTP, hostToken, "taken-over", t.TempDir()); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			_, err := joinAs(ctx, base, f.admin.HTTP, c.token, c.host, t.TempDir())
			if got := statusOf(err); got != c.status {
				t.Errorf("%s: %d (%v), want %d", c.name, got, err, c.status)
			}
		}
		// Joins by token are in the audit trail: the take-over by the admin token, the refusal.
		var trail []store.AuditEntry
		if err := f.admin.Do(ctx, http.MethodGet, "/v1/audit", nil, &trail); err != nil {
			t.Fatal(err)
		}
		joins := map[string]bool{}
		for _, e := range trail {
			if e.Action == "host.join" {
				joins[fmt.Sprintf("%s %s %d", e.Who, e.Target, e.Status)] = true
			}
		}
		if !joins["admin taken-over 200"] || !joins["host-token client-1 409"] {
			t.Errorf("audited joins %v, want admin taken-over 200 and host-token client-1 409", joins)
		}
		// An expired join token is refused: poll until the controller's clock passed it.
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, err := joinAs(ctx, base, f.admin.HTTP, tok.Secret, "late-1", t.TempDir())
			if statusOf(err) == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a join token of 1 s still joins after 15 s: %v", err)
			}
			sleepOrDone(ctx, 200*time.Millisecond)
		}
	})

	t.Run("identity is the certificate", func(t *testing.T) {
		evil := f.hostClient(ctx, "evil-1")
		err := evil.Register(ctx, api.Host{Name: "client-1", Roles: []api.Role{api.RoleRelay}, HTTPURL: "https://127.0.0.1:1", BTAddr: "127.0.0.1:1"})
		if got := statusOf(err); got != http.StatusForbidden {
			t.Errorf("host evil-1 registering as client-1: %d (%v), want 403", got, err)
		}
		if err := evil.Register(ctx, api.Host{Name: "evil-1", Roles: []api.Role{api.RoleClient}}); err != nil {
			t.Errorf("host evil-1 registering as itself: %v", err)
		}
		// A certificate renews only its own name.
		key, _ := pki.NewKey()
		csr, _ := pki.CSR(key, "client-1")
		_, err = evil.Join(ctx, api.JoinRequest{Name: "client-1", CSR: string(csr)})
		if got := statusOf(err); got != http.StatusForbidden {
			t.Errorf("evil-1 renewing client-1: %d (%v), want 403", got, err)
		}
		csr, _ = pki.CSR(key, "evil-1")
		if _, err := evil.Join(ctx, api.JoinRequest{Name: "evil-1", CSR: string(csr)}); err != nil {
			t.Errorf("evil-1 renewing itself: %v", err)
		}
	})

	t.Run("another CA", func(t *testing.T) {
		other, _, err := pki.Open(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := pki.NewKey()
		der, err := other.IssueHost("client-1", key.Public(), false)
		if err != nil {
			t.Fatal(err)
		}
		stranger, err := pki.SaveIdentity(t.TempDir(), key, der, other.Cert().Raw)
		if err != nil {
			t.Fatal(err)
		}
		cert := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		// Trusting our controller but presenting a certificate of another CA, whatever it asks.
		tc := f.ctrl.ClientTLS()
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		c := api.New(base, "")
		c.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: tc})}
		if _, err := c.Watch(ctx, "client-1", ""); err == nil || statusOf(err) == http.StatusOK {
			t.Errorf("watch with a certificate of another CA: %v, want refused", err)
		}
		// Its own TLS refuses our fleet's servers: it trusts its CA only.
		peer := &http.Client{Transport: &http.Transport{TLSClientConfig: stranger.PeerConfig()}}
		if resp, err := peer.Get(f.daemons["relay-1"].HTTPURL() + "/healthz"); err == nil {
			resp.Body.Close()
			t.Error("a host of another CA reached the relay")
		}
		// Plain HTTP to the TLS controller does not get through either.
		plain := api.New(strings.Replace(base, "https://", "http://", 1), hostToken)
		if _, err := plain.Watch(ctx, "client-1", ""); err == nil {
			t.Error("plain HTTP watch answered by a TLS controller")
		}
	})

	t.Run("untrusted controller", func(t *testing.T) {
		c := api.New(base, adminToken) // the system's roots only
		_, err := c.Hosts(ctx)
		var ut *api.UntrustedError
		if !errors.As(err, &ut) || !strings.Contains(err.Error(), "--ca-file") {
			t.Errorf("untrusted controller: %v, want an error naming --ca-file", err)
		}
		pinned := api.New(base, adminToken)
		pinned.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: pki.ControllerConfig(nil, f.ctrl.CAFingerprint())})}
		if _, err := pinned.Hosts(ctx); err != nil {
			t.Errorf("pinned fingerprint: %v", err)
		}
	})
}

// TestJoinByFingerprintAndRestart: a host joins trusting the controller by its pinned CA
// fingerprint, keeps its identity, and restarts without a join token.
func TestJoinByFingerprintAndRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f := newFleet(t)
	pin := func(c *daemon.Config) { c.CAFile, c.CAFingerprint = "", f.ctrl.CAFingerprint() }
	f.start("client-1", []api.Role{api.RoleClient}, nil, pin)
	f.waitHosts(ctx, 2)
	f.daemons["client-1"].Close()
	f.cancel["client-1"]()
	if _, err := os.Stat(filepath.Join(f.dir, "client-1", "tls", pki.CAFile)); err != nil {
		t.Fatalf("joined host kept no CA: %v", err)
	}
	f.start("client-1", []api.Role{api.RoleClient}, nil, func(c *daemon.Config) { c.JoinToken, c.CAFile = "", "" })
	f.waitHosts(ctx, 2)

	// A wrong pin never joins.
	bad := func(c *daemon.Config) { c.CAFile, c.CAFingerprint = "", "sha256:"+strings.Repeat("00", 32) }
	cfg := daemon.Config{Roles: []api.Role{api.RoleClient}, Name: "client-2", Listen: "127.0.0.1:0", BTListen: "127.0.0.1:0",
		Data: filepath.Join(f.dir, "client-2"), Socket: filepath.Join(t.TempDir(), "s"), Controller: f.ctrl.HTTPURL(),
		JoinToken: hostToken, Logger: testLogger(t)}
	bad(&cfg)
	if d, err := daemon.Start(ctx, cfg); err == nil {
		d.Close()
		t.Fatal("a host pinning another fingerprint joined")
	} else if !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("wrong pin: %v, want it named", err)
	}
}

// TestPlainHTTPFleet: with --insecure-plain-http everything works as before TLS, on the host token.
func TestPlainHTTPFleet(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	plain := func(c *daemon.Config) { c.InsecurePlainHTTP, c.JoinToken, c.CAFile = true, "", "" }
	f := newFleetWith(t, plain)
	if !strings.HasPrefix(f.ctrl.HTTPURL(), "http://") || f.ctrl.CAFile() != "" {
		t.Fatalf("plain controller at %s with ca %q", f.ctrl.HTTPURL(), f.ctrl.CAFile())
	}
	f.start("relay-1", []api.Role{api.RoleRelay}, nil, plain)
	f.start("client-1", []api.Role{api.RoleClient}, nil, plain)
	f.waitHosts(ctx, 3)
	_, d, _ := pushURL(ctx, t, f, 2<<20, origin.Options{})
	if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
		t.Fatalf("plain push ended %s", d.State)
	}
}

// controllerToken is the part of POST /v1/tokens' answer the tests read.
type controllerToken struct {
	Secret string `json:"secret"`
}

// statusOf is the HTTP status of an API error, 200 for none, 0 for a transport error.
func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}
