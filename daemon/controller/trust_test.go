package controller_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/store"
	"dist/daemon/controller"
)

func createToken(t *testing.T, e *env, req controller.TokenRequest) controller.TokenCreated {
	t.Helper()
	var out controller.TokenCreated
	if err := e.admin.Do(ctxT(t), http.MethodPost, "/v1/tokens", req, &out); err != nil {
		t.Fatalf("create token %s: %v", req.Name, err)
	}
	return out
}

func TestNamedTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	join := createToken(t, e, controller.TokenRequest{Name: "new-hosts", Role: "join"})
	if want := e.clock.Now().Add(controller.DefaultJoinTTL); !join.ExpiresAt.Equal(want) {
		t.Errorf("join token expires %v, want %v (the default lifetime)", join.ExpiresAt, want)
	}
	ci := createToken(t, e, controller.TokenRequest{Name: "ci", Role: "operate", TTLSeconds: 60})
	ro := createToken(t, e, controller.TokenRequest{Name: "dash", Role: "read"})
	if !strings.HasPrefix(ci.Secret, "dist_") || len(ci.Secret) != len("dist_")+64 || ci.Secret == ro.Secret {
		t.Errorf("secrets %q, %q: want two distinct dist_<64 hex>", ci.Secret, ro.Secret)
	}
	if !ro.ExpiresAt.IsZero() {
		t.Errorf("read token without a ttl expires %v", ro.ExpiresAt)
	}
	// The store keeps no secret, only its hash.
	kept, err := e.st.Tokens(ctx)
	if err != nil || len(kept) != 3 {
		t.Fatalf("stored tokens: %+v, %v", kept, err)
	}
	for _, k := range kept {
		if k.Hash == ci.Secret || k.Hash == ro.Secret || k.Hash == join.Secret || len(k.Hash) != 64 {
			t.Errorf("token %s stored as %q: want the SHA-256 of its secret", k.Name, k.Hash)
		}
	}
	as := func(secret string) *api.Client { return api.New(e.url, secret) }
	if _, err := as(ro.Secret).Distributions(ctx); err != nil {
		t.Errorf("read token listing distributions: %v", err)
	}
	if _, err := as(ro.Secret).CreateDistribution(ctx, api.CreateDistribution{Source: originURL, To: []string{"all"}}); !isStatus(err, http.StatusForbidden) {
		t.Errorf("read token pushing: %v, want 403", err)
	}
	if _, err := as(join.Secret).Distributions(ctx); !api.IsCode(err, api.CodeUnauthorized) {
		t.Errorf("join token on an operator route: %v, want 401", err)
	}
	for _, bad := range []controller.TokenRequest{
		{Name: "ci", Role: "read"},
		{Name: "admin", Role: "read"},
		{Name: "a b", Role: "read"},
		{Name: "x", Role: "root"},
		{Name: "y", Role: "read", TTLSeconds: -1},
	} {
		err := e.admin.Do(ctx, http.MethodPost, "/v1/tokens", bad, nil)
		if !isStatus(err, http.StatusBadRequest) && !isStatus(err, http.StatusConflict) {
			t.Errorf("token %+v: %v, want 400 or 409", bad, err)
		}
	}
	// Revoked and expired tokens are refused at once.
	if err := e.admin.Do(ctx, http.MethodDelete, "/v1/tokens/dash", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := as(ro.Secret).Distributions(ctx); !api.IsCode(err, api.CodeUnauthorized) {
		t.Errorf("revoked token: %v, want 401", err)
	}
	if err := e.admin.Do(ctx, http.MethodDelete, "/v1/tokens/dash", nil, nil); !api.IsCode(err, api.CodeNotFound) {
		t.Errorf("revoking twice: %v, want 404", err)
	}
	if _, err := as(ci.Secret).Distributions(ctx); err != nil {
		t.Errorf("operate token within its lifetime: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := as(ci.Secret).Distributions(ctx); !api.IsCode(err, api.CodeUnauthorized) {
		t.Errorf("expired token: %v, want 401", err)
	}
	// A restarted controller knows the tokens from its store.
	srv := controller.New(e.st, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: e.clock.Now})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.clock.Advance(-time.Minute)
	if _, err := api.New(ts.URL, ci.Secret).Distributions(ctx); err != nil {
		t.Errorf("token after a restart: %v", err)
	}
}

func isStatus(err error, status int) bool {
	se, ok := err.(*api.StatusError)
	return ok && se.Status == status
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	ci := createToken(t, e, controller.TokenRequest{Name: "ci", Role: "operate"})
	ro := createToken(t, e, controller.TokenRequest{Name: "dash", Role: "read"})
	d, err := api.New(e.url, ci.Secret).CreateDistribution(ctx, api.CreateDistribution{Source: originURL, To: []string{"c1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.New(e.url, ro.Secret).CancelDistribution(ctx, d.ID); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("read token cancelling: %v, want 403", err)
	}
	if _, err := api.New(e.url, ro.Secret).Distributions(ctx); err != nil { // a read: not audited
		t.Fatal(err)
	}
	var got []store.AuditEntry
	if err := e.admin.Do(ctx, http.MethodGet, "/v1/audit", nil, &got); err != nil {
		t.Fatal(err)
	}
	want := []store.AuditEntry{
		{Who: "dash", Role: "read", Action: "cancel", Target: d.ID, Status: http.StatusForbidden},
		{Who: "ci", Role: "operate", Action: "push", Target: d.ID, Status: http.StatusCreated, Result: "ok"},
		{Who: "admin", Role: "admin", Action: "token.create", Status: http.StatusCreated, Result: "ok", Target: "dash"},
		{Who: "admin", Role: "admin", Action: "token.create", Status: http.StatusCreated, Result: "ok", Target: "ci"},
	}
	if len(got) != len(want) {
		t.Fatalf("audit: %+v, want %d entries", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Who != w.Who || g.Role != w.Role || g.Action != w.Action || g.Target != w.Target || g.Status != w.Status ||
			g.Remote != "127.0.0.1" || !g.At.Equal(e.clock.Now()) {
			t.Errorf("entry %d: %+v, want %+v from 127.0.0.1 at %v", i, g, w, e.clock.Now())
		}
		if w.Result != "" && g.Result != w.Result {
			t.Errorf("entry %d: result %q, want %q", i, g.Result, w.Result)
		}
	}
	if !strings.Contains(got[0].Result, "role read") {
		t.Errorf("refused entry's result %q does not say why", got[0].Result)
	}
}

func TestLeasesBoundToHolder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.create("c1")
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxConns: ptr(4)}); err != nil {
		t.Fatal(err)
	}
	// c1 claims to be a relay; relay-a does not say it is one: the controller knows better.
	c, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "c1", Relay: true, Priority: 1000, History: 1000})
	if err != nil || !c.Granted || c.Lease.Relay {
		t.Fatalf("client claiming relay: %+v, %v, want granted, not as a relay", c, err)
	}
	r, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "relay-a/relay"})
	if err != nil || !r.Granted || !r.Lease.Relay {
		t.Fatalf("assigned relay: %+v, %v, want granted as a relay", r, err)
	}
	for _, id := range []string{c.Lease.ID, r.Lease.ID} {
		if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
			t.Errorf("lease id %q: want 128 random bits in hex", id)
		}
	}
	if err := e.host.ReleaseLease(ctx, r.Lease.ID, 0); err != nil {
		t.Fatal(err)
	}
	// With a byte budget: a renewal keeps the id, and the bytes it reports are capped at the grant.
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxBytes: ptr(int64(1 << 30))}); err != nil {
		t.Fatal(err)
	}
	c, err = e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "c1"})
	if err != nil || !c.Granted {
		t.Fatalf("lease with a byte budget: %+v, %v", c, err)
	}
	granted := c.Lease.Bytes
	if granted <= 0 {
		t.Fatalf("lease grants %d bytes: want a byte budget", granted)
	}
	n, err := e.host.RenewLease(ctx, c.Lease.ID, api.LeaseRenew{Used: 1000})
	if err != nil || !n.Granted || n.Lease.ID != c.Lease.ID {
		t.Fatalf("renewal: %+v, %v, want granted with id %s", n, err, c.Lease.ID)
	}
	granted = n.Lease.Bytes
	if _, err := e.host.RenewLease(ctx, c.Lease.ID, api.LeaseRenew{Used: 9e18}); err != nil {
		t.Fatal(err)
	}
	st, err := e.admin.Origins(ctx, originURL)
	if err != nil || st[0].Spent > 1000+granted {
		t.Fatalf("spent %d after reporting 1000 and 9e18 bytes of a %d-byte grant: %v", st[0].Spent, granted, err)
	}
	// The budget may be spent now: take a lease of another holder to release below.
	e.clock.Advance(24 * time.Hour)
	if c, err = e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "c1"}); err != nil || !c.Granted {
		t.Fatalf("lease in the next window: %+v, %v", c, err)
	}
	// The allocator's own ids open nothing.
	st, _ = e.admin.Origins(ctx, originURL)
	for _, l := range st[0].Leases {
		if err := e.host.ReleaseLease(ctx, l.ID, 0); err != nil {
			t.Fatal(err)
		}
	}
	if st2, _ := e.admin.Origins(ctx, originURL); len(st2[0].Leases) != 1 {
		t.Errorf("leases after a release by the allocator's id: %d, want 1", len(st2[0].Leases))
	}
}

func TestHostRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("c1", "a", api.RoleClient)
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	controller.SetHostLimit(e.srv, 1, 2, c.Now)
	ctx := ctxT(t)
	for i := range 2 {
		if _, err := e.host.Watch(ctx, "c1", "stale"); err != nil {
			t.Fatalf("watch %d within the burst: %v", i, err)
		}
	}
	_, err := e.host.Watch(ctx, "c1", "stale")
	if !isStatus(err, http.StatusTooManyRequests) || !api.IsCode(err, api.CodeOverloaded) {
		t.Fatalf("watch beyond the burst: %v, want 429 overloaded", err)
	}
	if _, err := e.host.Watch(ctx, "c2", "stale"); isStatus(err, http.StatusTooManyRequests) {
		t.Errorf("another host was limited by c1's bucket: %v", err)
	}
	c.Advance(time.Second)
	if _, err := e.host.Watch(ctx, "c1", "stale"); err != nil {
		t.Errorf("watch a second later: %v", err)
	}
}

func TestHostRateLimitRetryAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("c1", "a", api.RoleClient)
	controller.SetHostLimit(e.srv, 0.5, 1, func() time.Time { return time.Unix(1_700_000_000, 0) })
	for i, want := range []int{200, 429} {
		req := httptest.NewRequestWithContext(context.Background(), "GET", "/v1/watch?host=c1&version=stale", nil)
		req.Header.Set("Authorization", "Bearer "+hostToken)
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("request %d: %d, want %d", i, rec.Code, want)
		}
		if want == 429 && rec.Header().Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q, want 2 (one request per 2 s)", rec.Header().Get("Retry-After"))
		}
	}
}

func TestMetricsGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ro := createToken(t, e, controller.TokenRequest{Name: "prometheus", Role: "read"})
	join := createToken(t, e, controller.TokenRequest{Name: "j", Role: "join"})
	h := e.srv.GuardMetrics(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	tests := []struct {
		name, remote, auth string
		want               int
	}{
		{"stranger", "10.0.0.7:5000", "", http.StatusUnauthorized},
		{"stranger with the host token", "10.0.0.7:5000", "Bearer " + hostToken, http.StatusUnauthorized},
		{"stranger with a join token", "10.0.0.7:5000", "Bearer " + join.Secret, http.StatusUnauthorized},
		{"read token", "10.0.0.7:5000", "Bearer " + ro.Secret, http.StatusOK},
		{"admin token", "10.0.0.7:5000", "Bearer " + adminToken, http.StatusOK},
		{"loopback", "127.0.0.1:5000", "", http.StatusOK},
		{"loopback v6", "[::1]:5000", "", http.StatusOK},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = tt.remote
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.want)
		}
	}
}

// TestLeasePriorityFromDistribution: a holder's share follows the priority of the distribution
// it takes part in (factor 2^(p/50)), whatever priority it claims.
func TestLeasePriorityFromDistribution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	e.register("relay-a", "a", api.RoleRelay)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	for _, d := range []api.CreateDistribution{
		{Source: originURL, To: []string{"c1"}, Priority: 100},
		{Source: "http://origin.test/files/other.iso", To: []string{"c2"}, Priority: -100},
	} {
		if _, err := e.admin.CreateDistribution(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxRate: ptr(int64(1_000_000))}); err != nil {
		t.Fatal(err)
	}
	hi, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "c1"})
	if err != nil || !hi.Granted {
		t.Fatalf("lease of c1: %+v, %v", hi, err)
	}
	lo, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "c2", Priority: 1000})
	if err != nil || !lo.Granted {
		t.Fatalf("lease of c2: %+v, %v", lo, err)
	}
	e.clock.Advance(time.Second)
	if hi, err = e.host.RenewLease(ctx, hi.Lease.ID, api.LeaseRenew{}); err != nil || !hi.Granted {
		t.Fatalf("renewal of c1: %+v, %v", hi, err)
	}
	// Weights 4 and 1/4: c1 takes 16 times c2's rate, though c2 claimed a priority of 1000.
	if hi.Lease.Rate < 10*lo.Lease.Rate {
		t.Errorf("rates: c1 (priority 100) %d, c2 (priority -100, claiming 1000) %d: want c1 far ahead", hi.Lease.Rate, lo.Lease.Rate)
	}
}
