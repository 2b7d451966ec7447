package controller_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
	"dist/daemon/controller"
)

// TestHostIdentityOverTLS: over real TLS, a host certificate of the controller's CA names the
// host; one of another CA is refused; the shared host token opens no host route.
func TestHostIdentityOverTLS(t *testing.T) {
	t.Parallel()
	ca, _, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken, CA: ca})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = ca.ServerConfig()
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	ts.StartTLS()
	t.Cleanup(ts.Close)

	client := func(by *pki.CA, name string) *http.Client {
		// SNI, so that the CA's serving certificate answers rather than httptest's own.
		cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13, ServerName: "localhost"}
		if by != nil {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := by.IssueHost(name, &key.PublicKey, true)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	register := func(c *http.Client, auth, name string) (int, error) {
		req, err := http.NewRequestWithContext(ctxT(t), "POST", ts.URL+"/v1/hosts",
			bytes.NewReader([]byte(`{"name":"`+name+`","roles":["client"],"bt_addr":"127.0.0.1:6881"}`)))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := register(client(ca, "c1"), "", "c1"); err != nil || code != http.StatusNoContent {
		t.Errorf("c1 with its certificate: %d, %v, want 204", code, err)
	}
	if code, err := register(client(ca, "c2"), "", "c1"); err != nil || code != http.StatusForbidden {
		t.Errorf("c2 registering as c1: %d, %v, want 403", code, err)
	}
	if code, err := register(client(other, "c1"), "", "c1"); err == nil && code < 400 {
		t.Errorf("certificate of another CA: %d, want the handshake or the request refused", code)
	}
	if code, err := register(client(nil, ""), hostToken, "c1"); err != nil || code != http.StatusForbidden {
		t.Errorf("shared host token over TLS: %d, %v, want 403", code, err)
	}
	if code, err := register(client(nil, ""), "", "c1"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("no credential over TLS: %d, %v, want 401", code, err)
	}
	hs, err := st.Hosts(ctxT(t))
	if err != nil || len(hs) != 1 || hs[0].Name != "c1" {
		t.Errorf("hosts after the attempts: %+v, %v, want c1 alone", hs, err)
	}
}

// TestMetainfoOnlyForMembers: over TLS a host reads a metainfo by its sum only when it takes part
// in a distribution of it; the metainfo holds the info hash, the key to the swarm.
func TestMetainfoOnlyForMembers(t *testing.T) {
	t.Parallel()
	ca, _, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "controller.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken, CA: ca,
		Probe: func(context.Context, string) (int64, error) { return fileSize, nil }})
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = ca.ServerConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	tlsFor := func(name string) *http.Client {
		cfg := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13, ServerName: "localhost"}
		if name != "" {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := ca.IssueHost(name, &key.PublicKey, true)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	hostAPI := map[string]*api.Client{}
	for _, n := range []string{"c1", "c2"} {
		c := api.New(ts.URL, "")
		c.HTTP = tlsFor(n)
		if err := c.Register(ctxT(t), api.Host{Name: n, Roles: []api.Role{api.RoleClient}, BTAddr: "127.0.0.1:6881"}); err != nil {
			t.Fatalf("register %s: %v", n, err)
		}
		hostAPI[n] = c
	}
	admin := api.New(ts.URL, adminToken)
	admin.HTTP = tlsFor("")
	if _, err := admin.CreateDistribution(ctxT(t), api.CreateDistribution{Source: "http://origin.test/a.iso", To: []string{"c1"}, Metainfo: torrent(t, fileSize)}); err != nil {
		t.Fatal(err)
	}
	w, err := hostAPI["c1"].Watch(ctxT(t), "c1", "")
	if err != nil || len(w.Tasks) != 1 || w.Tasks[0].MetainfoSHA256 == "" {
		t.Fatalf("c1's watch: %+v, %v; want one task naming its metainfo", w.Tasks, err)
	}
	sum := w.Tasks[0].MetainfoSHA256
	if b, err := hostAPI["c1"].Metainfo(ctxT(t), sum); err != nil || len(b) == 0 {
		t.Errorf("c1, a target, reading its metainfo: %d bytes, %v", len(b), err)
	}
	_, err = hostAPI["c2"].Metainfo(ctxT(t), sum)
	if code, _ := statusCode(t, err); code != http.StatusForbidden {
		t.Errorf("c2, in no distribution of it, reading the metainfo: %d, want 403", code)
	}

	// The membership a host serving content asks about its callers: only a member may ask.
	id := w.Tasks[0].DistID
	for _, c := range []struct {
		asker, about string
		member       bool
		status       int
	}{
		{"c1", "c1", true, 0},
		{"c1", "c2", false, 0},
		{"c2", "c1", false, http.StatusForbidden},
	} {
		got, err := hostAPI[c.asker].Member(ctxT(t), id, c.about)
		if c.status != 0 {
			if code, _ := statusCode(t, err); code != c.status {
				t.Errorf("%s asking whether %s takes part: %d, want %d", c.asker, c.about, code, c.status)
			}
			continue
		}
		if err != nil || got != c.member {
			t.Errorf("%s asking whether %s takes part: %v, %v; want %v", c.asker, c.about, got, err, c.member)
		}
	}
}
