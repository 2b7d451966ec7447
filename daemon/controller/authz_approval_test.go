package controller_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/pki"
	"dist/core/store"
	"dist/daemon/controller"
)

// approvalEnv is a controller with a CA on the test clock, hosts r1 (relay) and c1 registered
// with the host token, and hosts that join with join tokens as a daemon does.
type approvalEnv struct {
	*env
	t *testing.T
}

func newApprovalEnv(t *testing.T, require bool) *approvalEnv {
	t.Helper()
	e := newEnvWith(t, func(o *controller.Options) {
		ca, _, err := pki.Open(t.TempDir(), o.Now) // the CA dates what it issues by the test clock
		if err != nil {
			t.Fatal(err)
		}
		o.CA, o.RequireApproval = ca, require
	})
	e.register("r1", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	return &approvalEnv{env: e, t: t}
}

// joinToken creates a named join token and answers its secret.
func (ae *approvalEnv) joinToken(name string) string {
	ae.t.Helper()
	return createToken(ae.t, ae.env, controller.TokenRequest{Name: name, Role: "join"}).Secret
}

// join trades a join token for a certificate of name, as a daemon's first start does; it answers
// the status and the certificate (nil when refused).
func (ae *approvalEnv) join(name, secret string) (int, *x509.Certificate) {
	ae.t.Helper()
	key, err := pki.NewKey()
	if err != nil {
		ae.t.Fatal(err)
	}
	csr, err := pki.CSR(key, name)
	if err != nil {
		ae.t.Fatal(err)
	}
	body, _ := json.Marshal(api.JoinRequest{Name: name, CSR: string(csr)})
	rec := ae.send(nil, secret, http.MethodPost, api.JoinPath, body)
	if rec.Code != http.StatusOK {
		return rec.Code, nil
	}
	var ans api.JoinAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
		ae.t.Fatal(err)
	}
	cert, err := pki.ParseCertPEM([]byte(ans.Cert))
	if err != nil {
		ae.t.Fatal(err)
	}
	return rec.Code, cert
}

// send serves one request, with cert as the verified client certificate (nil: none) and bearer
// as the token ("" none), from loopback.
func (ae *approvalEnv) send(cert *x509.Certificate, bearer, method, path string, body []byte) *httptest.ResponseRecorder {
	ae.t.Helper()
	req := httptest.NewRequestWithContext(ctxT(ae.t), method, path, bytes.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	if cert != nil {
		req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	rec := httptest.NewRecorder()
	ae.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func (ae *approvalEnv) registerCert(cert *x509.Certificate) int {
	name := cert.Subject.CommonName
	return ae.send(cert, "", "POST", "/v1/hosts",
		fmt.Appendf(nil, `{"name":%q,"roles":["client"],"bt_addr":"127.0.0.1:6881","http_url":"http://127.0.0.1:7700","labels":{"site":"a"}}`, name)).Code
}

// hostRoutes are the host routes a joined host may use for itself, with what it sends.
func hostRoutes(name, distID string) []struct{ method, path, body string } {
	return []struct{ method, path, body string }{
		{"POST", "/v1/hosts", fmt.Sprintf(`{"name":%q,"roles":["client"]}`, name)},
		{"GET", "/v1/watch?host=" + name + "&version=stale", ""},
		{"POST", "/v1/report", fmt.Sprintf(`{"host":%q,"tasks":[{"id":"%s/%s/client","state":"failed","error":"x"}]}`, name, distID, name)},
		{"POST", "/v1/leases", fmt.Sprintf(`{"origin":%q,"holder":%q}`, originURL, name)},
		{"PUT", "/v1/distributions/" + distID + "/metainfo", `"AAAA"`},
		{"GET", api.MetainfoPath + strings.Repeat("0", 64), ""},
		{"GET", "/v1/distributions/" + distID + "/peers?host=" + name, ""},
		{"POST", controller.GoodbyePath + "?host=" + name, ""},
	}
}

// trustSnapshot is what a host request could change: the store's hosts, distributions and
// events, and the leases held.
func (ae *approvalEnv) trustSnapshot() string {
	ae.t.Helper()
	ctx := context.Background()
	var parts []any
	hs, err := ae.st.Hosts(ctx)
	parts = append(parts, hs, err)
	ds, err := ae.st.Distributions(ctx)
	parts = append(parts, ds, err)
	for _, d := range ds {
		full, err := ae.st.Distribution(ctx, d.ID)
		parts = append(parts, full, err)
	}
	evs, err := ae.st.Events(ctx, "", 1000)
	parts = append(parts, evs, err)
	os, err := ae.admin.Origins(ctx, "")
	parts = append(parts, os, err)
	ts := any(ae.st).(store.HostTrustStore)
	as, err := ts.Approvals(ctx)
	parts = append(parts, as, err)
	rs, err := ts.Revocations(ctx)
	parts = append(parts, rs, err)
	b, err := json.Marshal(parts)
	if err != nil {
		ae.t.Fatal(err)
	}
	return string(b)
}

func (ae *approvalEnv) hostAccess(name string) (api.Host, bool) {
	ae.t.Helper()
	hs, err := ae.admin.Hosts(ctxT(ae.t))
	if err != nil {
		ae.t.Fatal(err)
	}
	i := slices.IndexFunc(hs, func(h api.Host) bool { return h.Name == name })
	if i < 0 {
		return api.Host{}, false
	}
	return hs[i], true
}

func targetsOf(d api.Distribution) []string {
	var out []string
	for _, a := range d.Assignments {
		out = append(out, a.Host+"/"+string(a.Role))
	}
	return out
}

// TestPendingHost: with approval required, a host joined by a join token gets its certificate,
// registers and watches (listed as pending, with its addresses) but gets no task, is no push
// target, and is refused with 403 on reports, leases, metainfo and peers, changing nothing; once
// approved it joins the live distribution and works like any host.
func TestPendingHost(t *testing.T) {
	t.Parallel()
	ae := newApprovalEnv(t, true)
	code, cert := ae.join("c9", ae.joinToken("j1"))
	if code != http.StatusOK {
		t.Fatalf("join of c9 with a join token: %d, want 200", code)
	}
	if code := ae.registerCert(cert); code != http.StatusNoContent {
		t.Fatalf("pending c9 registers: %d, want 204", code)
	}
	h, ok := ae.hostAccess("c9")
	if !ok || h.Access != "pending" || h.HTTPURL == "" || h.BTAddr == "" {
		t.Fatalf("c9 in the host list: %+v (found %v), want access pending with its addresses", h, ok)
	}
	d := ae.create("all")
	if tg := targetsOf(ae.dist(d.ID)); slices.Contains(tg, "c9/client") || !slices.Contains(tg, "c1/client") {
		t.Fatalf("push to all: assignments %v, want c1 and not the pending c9", tg)
	}
	rec := ae.send(cert, "", "GET", "/v1/watch?host=c9&version=stale", nil)
	var w api.Watch
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &w) != nil || len(w.Tasks) != 0 {
		t.Fatalf("watch of pending c9: %d %s, want 200 without tasks", rec.Code, rec.Body.String())
	}
	for _, rt := range hostRoutes("c9", d.ID) {
		switch rt.path {
		case "/v1/hosts", "/v1/watch?host=c9&version=stale", controller.GoodbyePath + "?host=c9":
			continue // open to a pending host
		}
		before := ae.trustSnapshot()
		rec := ae.send(cert, "", rt.method, rt.path, []byte(rt.body))
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "host c9 waits for approval: an admin runs dist hosts approve c9") {
			t.Errorf("%s %s as pending c9: %d %s, want 403 naming the approval", rt.method, rt.path, rec.Code, rec.Body.String())
		}
		if after := ae.trustSnapshot(); after != before {
			t.Errorf("%s %s as pending c9 was refused but changed the store", rt.method, rt.path)
		}
	}

	// Approval: only an admin; then c9 is in the live distribution and its calls work.
	for _, tok := range []string{createToken(t, ae.env, controller.TokenRequest{Name: "op", Role: "operate"}).Secret, ""} {
		before := ae.trustSnapshot()
		c := ae.send(nil, tok, "POST", "/v1/hosts/c9/approve", nil).Code
		if c2 := ae.send(cert, "", "POST", "/v1/hosts/c9/approve", nil).Code; c2 != http.StatusForbidden {
			t.Errorf("c9 approves itself: %d, want 403", c2)
		}
		if (tok == "" && c != http.StatusUnauthorized) || (tok != "" && c != http.StatusForbidden) {
			t.Errorf("approve by a non-admin: %d, want 401/403", c)
		}
		if h, _ := ae.hostAccess("c9"); h.Access != "pending" || ae.trustSnapshot() != before {
			t.Errorf("a refused approval changed c9: %+v", h)
		}
	}
	if rec := ae.send(nil, adminToken, "POST", "/v1/hosts/c9/approve", nil); rec.Code != http.StatusOK {
		t.Fatalf("approve c9: %d %s", rec.Code, rec.Body.String())
	}
	if h, _ := ae.hostAccess("c9"); h.Access != "" {
		t.Fatalf("approved c9 listed with access %q", h.Access)
	}
	if tg := targetsOf(ae.dist(d.ID)); !slices.Contains(tg, "c9/client") {
		t.Fatalf("after approval: assignments %v, want c9 joined", tg)
	}
	for _, rt := range hostRoutes("c9", d.ID)[:4] { // register, watch, report, lease
		if rec := ae.send(cert, "", rt.method, rt.path, []byte(rt.body)); rec.Code >= 300 {
			t.Errorf("%s %s as approved c9: %d %s, want 2xx", rt.method, rt.path, rec.Code, rec.Body.String())
		}
	}
	if rec := ae.send(nil, adminToken, "POST", "/v1/hosts/nobody/approve", nil); rec.Code != http.StatusNotFound {
		t.Errorf("approve an unknown host: %d, want 404", rec.Code)
	}
	audit, err := ae.st.Audit(ctxT(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(audit, func(a store.AuditEntry) bool {
		return a.Action == "host.approve" && a.Target == "c9" && a.Who == "admin" && a.Status == http.StatusOK
	}) {
		t.Errorf("no audit entry of admin approving c9: %+v", audit)
	}
}

// TestRevokedHost: a revoked host's certificate gets 401 naming the revocation on every host
// route and on renewal, changing nothing; it is offline and listed as revoked, the join token it
// joined with no longer brings it back, and a join token created after does.
func TestRevokedHost(t *testing.T) {
	t.Parallel()
	ae := newApprovalEnv(t, false)
	old := ae.joinToken("j1")
	_, cert := ae.join("c9", old)
	if code := ae.registerCert(cert); code != http.StatusNoContent {
		t.Fatalf("c9 registers: %d", code)
	}
	d := ae.create("all")
	if tg := targetsOf(ae.dist(d.ID)); !slices.Contains(tg, "c9/client") {
		t.Fatalf("approval off: a joined host is a target at once; assignments %v", tg)
	}
	peerNames := func() []string {
		ps, err := ae.host.Peers(ctxT(t), d.ID, "c1")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.Host)
		}
		return out
	}
	if ps := peerNames(); !slices.Contains(ps, "c9") {
		t.Fatalf("peers of c1 before the revocation: %v, want c9 among them", ps)
	}
	ae.clock.Advance(time.Second)
	rec := ae.send(nil, adminToken, "POST", "/v1/hosts/c9/revoke", nil)
	var dec controller.HostDecision
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &dec) != nil || len(dec.Serials) != 1 || dec.Serials[0] != pki.SerialOf(cert) {
		t.Fatalf("revoke c9: %d %s, want 200 naming its serial %s", rec.Code, rec.Body.String(), pki.SerialOf(cert))
	}
	for _, rt := range hostRoutes("c9", d.ID) {
		before := ae.trustSnapshot()
		rec := ae.send(cert, "", rt.method, rt.path, []byte(rt.body))
		if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "certificate of host c9 was revoked") {
			t.Errorf("%s %s with c9's revoked certificate: %d %s, want 401 naming the revocation", rt.method, rt.path, rec.Code, rec.Body.String())
		}
		if after := ae.trustSnapshot(); after != before {
			t.Errorf("%s %s with a revoked certificate changed the store", rt.method, rt.path)
		}
	}
	csr := func() []byte {
		key, _ := pki.NewKey()
		b, _ := pki.CSR(key, "c9")
		body, _ := json.Marshal(api.JoinRequest{Name: "c9", CSR: string(b)})
		return body
	}
	if rec := ae.send(cert, "", "POST", api.JoinPath, csr()); rec.Code != http.StatusUnauthorized {
		t.Errorf("renewal with the revoked certificate: %d %s, want 401", rec.Code, rec.Body.String())
	}
	if rec := ae.send(cert, "", "GET", "/v1/hosts", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("operator route with the revoked certificate: %d, want 401", rec.Code)
	}
	if h, _ := ae.hostAccess("c9"); h.Online || h.Access != "revoked" {
		t.Errorf("revoked c9 listed as %+v, want offline and access revoked", h)
	}
	if ps := peerNames(); slices.Contains(ps, "c9") {
		t.Errorf("peers of c1 after the revocation: %v, want c9 dropped", ps)
	}
	d2 := ae.create("all")
	if tg := targetsOf(ae.dist(d2.ID)); slices.Contains(tg, "c9/client") {
		t.Errorf("push after the revocation targets c9: %v", tg)
	}
	for _, tok := range []string{old, hostToken} {
		if code, _ := ae.join("c9", tok); code != http.StatusForbidden {
			t.Errorf("join again with a token older than the revocation: %d, want 403", code)
		}
	}
	ae.clock.Advance(time.Second)
	code, fresh := ae.join("c9", ae.joinToken("j2"))
	if code != http.StatusOK {
		t.Fatalf("join again with a new join token: %d, want 200", code)
	}
	if code := ae.registerCert(fresh); code != http.StatusNoContent {
		t.Errorf("c9 with its new certificate: %d, want 204", code)
	}
	if code := ae.registerCert(cert); code != http.StatusUnauthorized {
		t.Errorf("c9's old certificate after the new join: %d, want 401", code)
	}
	if h, _ := ae.hostAccess("c9"); h.Access != "" || !h.Online {
		t.Errorf("c9 joined again listed as %+v, want online with full access", h)
	}
	audit, err := ae.st.Audit(ctxT(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(audit, func(a store.AuditEntry) bool { return a.Action == "host.revoke" && a.Target == "c9" && a.Status == 200 }) {
		t.Errorf("no audit entry of the revocation: %+v", audit)
	}
	// The only relay revoked: no push can be given one.
	if rec := ae.send(nil, adminToken, "POST", "/v1/hosts/r1/revoke", nil); rec.Code != http.StatusOK {
		t.Fatalf("revoke r1: %d %s", rec.Code, rec.Body.String())
	}
	if _, err := ae.admin.CreateDistribution(ctxT(t), api.CreateDistribution{Source: originURL, To: []string{"all"}}); err == nil || !strings.Contains(err.Error(), "no relay is online") {
		t.Errorf("push with the only relay revoked: %v, want no relay online", err)
	}
}

// TestDenyHost: a denied pending host is refused as a revoked one and listed as denied; approving
// it takes a new join first.
func TestDenyHost(t *testing.T) {
	t.Parallel()
	ae := newApprovalEnv(t, true)
	_, cert := ae.join("c9", ae.joinToken("j1"))
	if code := ae.registerCert(cert); code != http.StatusNoContent {
		t.Fatalf("c9 registers: %d", code)
	}
	if rec := ae.send(nil, adminToken, "POST", "/v1/hosts/c9/deny", nil); rec.Code != http.StatusOK {
		t.Fatalf("deny c9: %d %s", rec.Code, rec.Body.String())
	}
	if code := ae.registerCert(cert); code != http.StatusUnauthorized {
		t.Errorf("denied c9 registers: %d, want 401", code)
	}
	if h, _ := ae.hostAccess("c9"); h.Access != "denied" {
		t.Errorf("denied c9 listed with access %q", h.Access)
	}
	if rec := ae.send(nil, adminToken, "POST", "/v1/hosts/c9/approve", nil); rec.Code != http.StatusConflict {
		t.Errorf("approve a denied host: %d %s, want 409", rec.Code, rec.Body.String())
	}
}

// TestApprovalOffChangesNothing: without --require-approval a host joined by a join token
// reports, leases and is listed as before.
func TestApprovalOffChangesNothing(t *testing.T) {
	t.Parallel()
	ae := newApprovalEnv(t, false)
	_, cert := ae.join("c9", ae.joinToken("j1"))
	if code := ae.registerCert(cert); code != http.StatusNoContent {
		t.Fatalf("c9 registers: %d", code)
	}
	d := ae.create("all")
	for _, rt := range hostRoutes("c9", d.ID)[:4] {
		if rec := ae.send(cert, "", rt.method, rt.path, []byte(rt.body)); rec.Code >= 300 {
			t.Errorf("%s %s as c9: %d %s, want 2xx", rt.method, rt.path, rec.Code, rec.Body.String())
		}
	}
	hs, err := ae.admin.Hosts(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.Access != "" {
			t.Errorf("host %s listed with access %q", h.Name, h.Access)
		}
	}
}

// TestHostDecisionRoutes: approve, deny and revoke answer an admin only (401 without a
// credential, 403 for a host certificate or a read or operate token), and a refused one changes
// nothing, approvals and revocations included.
func TestHostDecisionRoutes(t *testing.T) {
	t.Parallel()
	for _, what := range []string{"approve", "deny", "revoke"} {
		t.Run(what, func(t *testing.T) {
			t.Parallel()
			ae := newApprovalEnv(t, true)
			_, cert := ae.join("c9", ae.joinToken("j1"))
			if code := ae.registerCert(cert); code != http.StatusNoContent {
				t.Fatalf("c9 registers: %d", code)
			}
			read := createToken(t, ae.env, controller.TokenRequest{Name: "r", Role: "read"}).Secret
			op := createToken(t, ae.env, controller.TokenRequest{Name: "o", Role: "operate"}).Secret
			path := "/v1/hosts/c9/" + what
			for _, c := range []struct {
				name   string
				cert   *x509.Certificate
				bearer string
				want   int
			}{
				{"none", nil, "", http.StatusUnauthorized},
				{"wrong token", nil, "nope", http.StatusUnauthorized},
				{"join token", nil, ae.joinToken("j2"), http.StatusUnauthorized},
				{"host c9", cert, "", http.StatusForbidden},
				{"read", nil, read, http.StatusForbidden},
				{"operate", nil, op, http.StatusForbidden},
			} {
				before := ae.trustSnapshot()
				if rec := ae.send(c.cert, c.bearer, "POST", path, nil); rec.Code != c.want {
					t.Errorf("%s as %s: %d %s, want %d", path, c.name, rec.Code, rec.Body.String(), c.want)
				}
				if ae.trustSnapshot() != before {
					t.Errorf("%s as %s was refused but changed the store", path, c.name)
				}
			}
			before := ae.trustSnapshot()
			if rec := ae.send(nil, adminToken, "POST", path, nil); rec.Code != http.StatusOK {
				t.Fatalf("%s as admin: %d %s", path, rec.Code, rec.Body.String())
			}
			if ae.trustSnapshot() == before {
				t.Errorf("%s as admin changed nothing", path)
			}
			if rec := ae.send(nil, adminToken, "POST", "/v1/hosts/nobody/"+what, nil); rec.Code != http.StatusNotFound {
				t.Errorf("%s of an unknown host: %d, want 404", what, rec.Code)
			}
		})
	}
}
