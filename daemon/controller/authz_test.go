package controller_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

// Credentials of the authorization table. Hosts come with a certificate (r.TLS with a verified
// chain, as the TLS layer leaves it); "wrong-ca" presented one the controller's CA did not sign
// (no verified chain); "plain-host" is the shared host token over plain HTTP (lab mode).
const (
	credNone      = "none"
	credWrongCA   = "wrong-ca"
	credHostA     = "host-a" // c1
	credHostB     = "host-b" // c2
	credRelay     = "relay"  // r1, the relay of the fixture's distribution
	credPlainHost = "plain-host"
	credRead      = "read"
	credOperate   = "operate"
	credAdmin     = "admin"
)

var allCreds = []string{credNone, credWrongCA, credHostA, credHostB, credRelay, credPlainHost, credRead, credOperate, credAdmin}

var certNames = map[string]string{credHostA: "c1", credHostB: "c2", credRelay: "r1", credWrongCA: "c1"}

// authzFixture is a controller with three hosts, one URL distribution on them (relay r1,
// metainfo published), an origin policy, a lease held by c1, and named read/operate tokens.
type authzFixture struct {
	e       *env
	dist    string
	sum     string // metainfo sum
	lease   string // c1's lease
	secrets map[string]string
	mi      []byte
}

func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	e := newEnv(t)
	ctx := ctxT(t)
	e.register("r1", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	d := e.create("c1", "c2")
	fx := &authzFixture{e: e, dist: d.ID, mi: torrent(t, fileSize), secrets: map[string]string{credAdmin: adminToken}}
	if err := e.host.PutMetainfo(ctx, d.ID, fx.mi); err != nil {
		t.Fatalf("metainfo: %v", err)
	}
	w, err := e.host.Watch(ctx, "c1", "")
	if err != nil || len(w.Tasks) != 1 || w.Tasks[0].MetainfoSHA256 == "" {
		t.Fatalf("watch of c1: %+v, %v", w, err)
	}
	fx.sum = w.Tasks[0].MetainfoSHA256
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxConns: ptr(8), MaxBytes: ptr(int64(1 << 40))}); err != nil {
		t.Fatal(err)
	}
	l, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "c1"})
	if err != nil || !l.Granted {
		t.Fatalf("lease of c1: %+v, %v", l, err)
	}
	fx.lease = l.Lease.ID
	for _, role := range []string{credRead, credOperate, "spare"} {
		var out controller.TokenCreated
		r := role
		if role == "spare" {
			r = "read"
		}
		if err := e.admin.Do(ctx, http.MethodPost, "/v1/tokens", controller.TokenRequest{Name: role, Role: r}, &out); err != nil {
			t.Fatalf("token %s: %v", role, err)
		}
		fx.secrets[role] = out.Secret
	}
	return fx
}

// do sends one request straight to the handler with the credential, from loopback.
func (fx *authzFixture) do(t *testing.T, cred, method, path string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(ctxT(t), method, path, bytes.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	switch cred {
	case credHostA, credHostB, credRelay:
		req.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{hostCert(t, certNames[cred])}}}
	case credWrongCA:
		// The TLS layer could not chain it to the CA: it is there, but not verified.
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{hostCert(t, certNames[cred])}}
	case credPlainHost:
		req.Header.Set("Authorization", "Bearer "+hostToken)
	case credRead, credOperate, credAdmin:
		req.Header.Set("Authorization", "Bearer "+fx.secrets[cred])
	}
	rec := httptest.NewRecorder()
	fx.e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// snapshot is everything a request could change in the store, and the leases held: the audit
// trail apart (it records refused attempts by design).
func (fx *authzFixture) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st := fx.e.st
	var parts []any
	hs, err := st.Hosts(ctx)
	parts = append(parts, hs, err)
	ds, err := st.Distributions(ctx)
	parts = append(parts, ds, err)
	for _, d := range ds {
		full, err := st.Distribution(ctx, d.ID)
		parts = append(parts, full, err)
	}
	evs, err := st.Events(ctx, "", 1000)
	parts = append(parts, evs, err)
	toks, err := st.Tokens(ctx)
	parts = append(parts, toks, err)
	ors, err := st.Origins(ctx)
	parts = append(parts, ors, err)
	leases, err := fx.e.admin.Origins(ctx, "")
	parts = append(parts, leases, err)
	b, err := json.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// authzRoute is one route of the table. Operator routes need role need; host routes admit the
// credentials in hosts (everyone else with a host credential gets 403).
type authzRoute struct {
	name   string
	method string
	path   func(fx *authzFixture) string
	body   func(fx *authzFixture) []byte
	ok     int                 // status of an admitted request
	need   controller.Role     // operator routes
	hosts  map[string]struct{} // host routes: admitted host credentials
	public bool                // no credential needed
}

func hostsOf(creds ...string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, c := range creds {
		m[c] = struct{}{}
	}
	return m
}

func fixed(s string) func(*authzFixture) string { return func(*authzFixture) string { return s } }

func jsonBody(format string, args ...any) func(*authzFixture) []byte {
	return func(*authzFixture) []byte { return []byte(fmt.Sprintf(format, args...)) }
}

func authzRoutes() []authzRoute {
	distPath := func(suffix string) func(*authzFixture) string {
		return func(fx *authzFixture) string { return "/v1/distributions/" + fx.dist + suffix }
	}
	c1Report := func(fx *authzFixture) []byte {
		return fmt.Appendf(nil, `{"host":"c1","tasks":[{"id":"%s/c1/client","state":"failed","error":"x"}]}`, fx.dist)
	}
	return []authzRoute{
		{name: "healthz", method: "GET", path: fixed("/healthz"), ok: 200, public: true},
		{name: "register c1", method: "POST", path: fixed("/v1/hosts"), ok: 204, hosts: hostsOf(credHostA, credPlainHost),
			body: jsonBody(`{"name":"c1","roles":["client"],"bt_addr":"127.0.0.1:6881","http_url":"http://127.0.0.1:7700"}`)},
		{name: "goodbye of c1", method: "POST", path: fixed(controller.GoodbyePath + "?host=c1"), ok: 204, hosts: hostsOf(credHostA, credPlainHost)},
		{name: "watch c1", method: "GET", path: fixed("/v1/watch?host=c1&version=stale"), ok: 200, hosts: hostsOf(credHostA, credPlainHost)},
		{name: "peers for c1", method: "GET", path: distPath("/peers?host=c1"), ok: 200, hosts: hostsOf(credHostA, credPlainHost)},
		{name: "metainfo by sum", method: "GET", path: func(fx *authzFixture) string { return api.MetainfoPath + fx.sum }, ok: 200,
			hosts: hostsOf(credHostA, credHostB, credRelay, credPlainHost)},
		{name: "put metainfo", method: "PUT", path: distPath("/metainfo"), ok: 204, hosts: hostsOf(credRelay, credPlainHost),
			body: func(fx *authzFixture) []byte { b, _ := json.Marshal(fx.mi); return b }},
		{name: "report c1's task", method: "POST", path: fixed("/v1/report"), ok: 204, hosts: hostsOf(credHostA, credPlainHost), body: c1Report},
		{name: "report c1's task as c2", method: "POST", path: fixed("/v1/report"), ok: 204, hosts: hostsOf(),
			body: func(fx *authzFixture) []byte {
				return fmt.Appendf(nil, `{"host":"c2","tasks":[{"id":"%s/c1/client","state":"done","have":%d}]}`, fx.dist, fileSize)
			}},
		{name: "lease for c1", method: "POST", path: fixed("/v1/leases"), ok: 200, hosts: hostsOf(credHostA, credPlainHost),
			body: jsonBody(`{"origin":%q,"holder":"c1"}`, originURL)},
		{name: "renew c1's lease", method: "POST", path: func(fx *authzFixture) string { return "/v1/leases/" + fx.lease + "/renew" }, ok: 200,
			hosts: hostsOf(credHostA, credPlainHost), body: jsonBody(`{"used":1000}`)},
		{name: "release c1's lease", method: "DELETE", path: func(fx *authzFixture) string { return "/v1/leases/" + fx.lease + "?used=10" }, ok: 204,
			hosts: hostsOf(credHostA, credPlainHost)},
		{name: "list hosts", method: "GET", path: fixed("/v1/hosts"), ok: 200, need: controller.RoleRead},
		{name: "list distributions", method: "GET", path: fixed("/v1/distributions"), ok: 200, need: controller.RoleRead},
		{name: "show distribution", method: "GET", path: distPath(""), ok: 200, need: controller.RoleRead},
		{name: "report of distribution", method: "GET", path: distPath("/report"), ok: 200, need: controller.RoleRead},
		{name: "events", method: "GET", path: fixed("/v1/events"), ok: 200, need: controller.RoleRead},
		{name: "list origins", method: "GET", path: fixed("/v1/origins"), ok: 200, need: controller.RoleRead},
		{name: "push", method: "POST", path: fixed("/v1/distributions"), ok: 201, need: controller.RoleOperate,
			body: jsonBody(`{"source":%q,"to":["c1"]}`, originURL)},
		{name: "cancel", method: "POST", path: distPath("/cancel"), ok: 200, need: controller.RoleOperate},
		{name: "set origin", method: "PUT", path: fixed("/v1/origins"), ok: 200, need: controller.RoleAdmin,
			body: jsonBody(`{"origin":%q,"max_conns":2}`, originURL)},
		{name: "backup", method: "GET", path: fixed(controller.BackupPath), ok: 200, need: controller.RoleAdmin},
		{name: "create token", method: "POST", path: fixed("/v1/tokens"), ok: 201, need: controller.RoleAdmin,
			body: jsonBody(`{"name":"new","role":"read"}`)},
		{name: "list tokens", method: "GET", path: fixed("/v1/tokens"), ok: 200, need: controller.RoleAdmin},
		{name: "revoke token", method: "DELETE", path: fixed("/v1/tokens/spare"), ok: 204, need: controller.RoleAdmin},
		{name: "audit", method: "GET", path: fixed("/v1/audit"), ok: 200, need: controller.RoleAdmin},
	}
}

// want answers the status a credential gets on a route.
func (rt authzRoute) want(cred string) int {
	switch {
	case rt.public:
		return rt.ok
	case cred == credNone || cred == credWrongCA:
		return http.StatusUnauthorized
	case rt.hosts != nil:
		if _, ok := rt.hosts[cred]; ok {
			return rt.ok
		}
		return http.StatusForbidden
	}
	// An operator route.
	roles := map[string]controller.Role{credRead: controller.RoleRead, credOperate: controller.RoleOperate, credAdmin: controller.RoleAdmin}
	switch r, isToken := roles[cred]; {
	case cred == credPlainHost:
		return http.StatusUnauthorized // the shared host token is no operator's credential
	case !isToken:
		return http.StatusForbidden // a host certificate opens no operator route
	case r < rt.need:
		return http.StatusForbidden
	}
	return rt.ok
}

// TestAuthorization sends every route with every credential: each answer is the expected
// 2xx/401/403, and a refused request changes nothing in the store.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	for _, rt := range authzRoutes() {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			// The refused requests share one fixture: none may change it.
			shared := newAuthzFixture(t)
			for _, cred := range allCreds {
				want := rt.want(cred)
				fx := shared
				if want < 300 {
					fx = newAuthzFixture(t) // an admitted request may change its fixture
				}
				var body []byte
				if rt.body != nil {
					body = rt.body(fx)
				}
				before := fx.snapshot(t)
				rec := fx.do(t, cred, rt.method, rt.path(fx), body)
				if rec.Code != want {
					t.Errorf("%s %s as %s: status %d (%s), want %d", rt.method, rt.path(fx), cred, rec.Code, strings.TrimSpace(rec.Body.String()), want)
					continue
				}
				if want >= 300 {
					if after := fx.snapshot(t); after != before {
						t.Errorf("%s as %s was refused but changed the store:\nbefore %s\nafter  %s", rt.name, cred, before, after)
					}
				}
			}
		})
	}
}

// hostCert is a self-signed certificate for a host name: what the TLS layer hands over as the
// leaf of a verified chain.
func hostCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
