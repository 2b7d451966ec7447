package controller_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
	"dist/core/store/pgtest"
	"dist/daemon/controller"
)

// TestSharedCAAndRevocation: two controllers on one PostgreSQL database sign and trust with one
// CA (the first stores it, the second takes it; a third data dir with a CA of its own is refused
// naming both fingerprints); a host certificate issued through A is accepted by B over mTLS; a
// revocation made at A is refused at B after B's next trust tick, driven here by hand.
func TestSharedCAAndRevocation(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Private(t) // skips, saying why, without PostgreSQL
	ctx := ctxT(t)
	open := func() store.Store {
		st, err := store.OpenPostgres(context.Background(), dsn)
		if err != nil {
			t.Fatalf("open store: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stA, stB := open(), open()
	dirA, dirB := filepath.Join(t.TempDir(), "pki"), filepath.Join(t.TempDir(), "pki")
	caA, how, err := controller.OpenSharedCA(ctx, dirA, stA)
	if err != nil || how != "created" {
		t.Fatalf("first controller's ca: %q, %v; want created", how, err)
	}
	caB, how, err := controller.OpenSharedCA(ctx, dirB, stB)
	if err != nil || how != "adopted" || caB.Fingerprint() != caA.Fingerprint() {
		t.Fatalf("second controller's ca: %q, %v, %s; want adopted %s", how, err, caB.Fingerprint(), caA.Fingerprint())
	}
	if again, how, err := controller.OpenSharedCA(ctx, dirB, stB); err != nil || how != "shared" || again.Fingerprint() != caA.Fingerprint() {
		t.Fatalf("second controller restarted: %q, %v", how, err)
	}
	dirC := filepath.Join(t.TempDir(), "pki")
	own, _, err := pki.Open(dirC, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = controller.OpenSharedCA(ctx, dirC, stA)
	if err == nil || !strings.Contains(err.Error(), own.Fingerprint()) || !strings.Contains(err.Error(), caA.Fingerprint()) {
		t.Fatalf("a controller with another ca on the shared store: %v, want a refusal naming %s and %s", err, own.Fingerprint(), caA.Fingerprint())
	}

	serve := func(st store.Store, ca *pki.CA) (*controller.Server, string) {
		srv := controller.New(st, controller.Options{AdminToken: adminToken, HostToken: hostToken, CA: ca})
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.TLS = ca.ServerConfig()
		ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		ts.StartTLS()
		t.Cleanup(ts.Close)
		return srv, ts.URL
	}
	_, urlA := serve(stA, caA)
	srvB, urlB := serve(stB, caB)
	tick := make(chan time.Time)
	fctx, stop := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() { srvB.FollowTrust(fctx, tick); close(followed) }()
	t.Cleanup(func() { stop(); <-followed })

	// c9 joins through A, with the admin token.
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CSR(key, "c9")
	if err != nil {
		t.Fatal(err)
	}
	tlsTo := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{RootCAs: caA.Pool(), MinVersion: tls.VersionTLS13, ServerName: "localhost"}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	send := func(c *http.Client, bearer, method, url string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, url, rd)
		if err != nil {
			t.Fatal(err)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, body := send(tlsTo(nil), adminToken, "POST", urlA+api.JoinPath, api.JoinRequest{Name: "c9", CSR: string(csr)})
	var ans api.JoinAnswer
	if code != http.StatusOK || json.Unmarshal(body, &ans) != nil {
		t.Fatalf("join c9 through A: %d %s", code, body)
	}
	leaf, err := pki.ParseCertPEM([]byte(ans.Cert))
	if err != nil {
		t.Fatal(err)
	}
	c9 := tlsTo(&tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key})
	reg := api.Host{Name: "c9", Roles: []api.Role{api.RoleClient}, BTAddr: "127.0.0.1:6881"}
	for _, u := range []string{urlA, urlB} {
		if code, body := send(c9, "", "POST", u+"/v1/hosts", reg); code != http.StatusNoContent {
			t.Fatalf("c9, joined through A, registers at %s: %d %s, want 204", u, code, body)
		}
	}

	if code, body := send(tlsTo(nil), adminToken, "POST", urlA+"/v1/hosts/c9/revoke", nil); code != http.StatusOK {
		t.Fatalf("revoke c9 at A: %d %s", code, body)
	}
	if code, _ := send(c9, "", "POST", urlA+"/v1/hosts", reg); code != http.StatusUnauthorized {
		t.Errorf("c9 at A after its revocation there: %d, want 401", code)
	}
	if code, _ := send(c9, "", "GET", urlB+"/v1/watch?host=c9&version=stale", nil); code != http.StatusOK {
		t.Errorf("c9 at B before B's next tick: %d, want 200 (B reads revocations at its ticks)", code)
	}
	// B learns of it at its next tick: the second send returns once the first tick's read is done.
	tick <- time.Now()
	tick <- time.Now()
	code, body = send(c9, "", "POST", urlB+"/v1/hosts", reg)
	if code != http.StatusUnauthorized || !strings.Contains(string(body), "certificate of host c9 was revoked") {
		t.Errorf("c9 at B after the revocation at A and one tick: %d %s, want 401 naming the revocation", code, body)
	}
	// Approvals are as shared: one made at A holds at B after a tick.
	if err := stA.(store.HostTrustStore).SetApproval(ctx, store.HostApproval{Name: "c9", State: store.ApprovalDenied, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tick <- time.Now()
	tick <- time.Now()
	var hs []api.Host
	code, body = send(tlsTo(nil), adminToken, "GET", urlB+"/v1/hosts", nil)
	if code != http.StatusOK || json.Unmarshal(body, &hs) != nil || len(hs) != 1 || hs[0].Access != "denied" {
		t.Errorf("hosts at B after a denial stored through A: %d %s, want c9 denied", code, body)
	}
}
