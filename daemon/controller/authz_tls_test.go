package controller_test

import (
	"bytes"
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
