package controller_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

const originURL = "http://origin.test/files/image.iso"

func ptr[T any](v T) *T { return &v }

func TestOriginPolicyAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxT(t)
	if _, err := e.host.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxConns: ptr(4)}); !api.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("a host set an origin policy: %v", err)
	}
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxConns: ptr(4)}); err != nil {
		t.Fatal(err)
	}
	// Only the fields given change; the key is scheme://host, whatever URL of the origin is given.
	st, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: "HTTP://Origin.test:80/other", MaxRate: ptr(int64(1 << 20))})
	if err != nil {
		t.Fatal(err)
	}
	if st.Origin != "http://origin.test" || st.MaxConns != 4 || st.MaxRate != 1<<20 {
		t.Errorf("policy after two updates: %+v", st.OriginPolicy)
	}
	for _, bad := range []api.OriginUpdate{
		{Origin: originURL, WindowS: ptr(int64(10))},
		{Origin: originURL, MaxConns: ptr(-1)},
		{Origin: "ftp://origin.test/x", MaxConns: ptr(1)},
	} {
		if _, err := e.admin.SetOrigin(ctx, bad); !api.IsCode(err, api.CodeBadRequest) {
			t.Errorf("update %+v: %v, want bad request", bad, err)
		}
	}
	if _, err := e.admin.Origins(ctx, "http://unknown.test"); !api.IsCode(err, api.CodeNotFound) {
		t.Errorf("unknown origin: %v, want not found", err)
	}
	ss, err := e.admin.Origins(ctx, "")
	if err != nil || len(ss) != 1 || ss[0].MaxConns != 4 {
		t.Errorf("list: %+v, %v", ss, err)
	}
}

func TestLeaseLifecycle(t *testing.T) {
	t.Parallel()
	const ttl = 4 * time.Second
	e := newEnvWith(t, func(o *controller.Options) { o.LeaseTTL = ttl })
	ctx := ctxT(t)
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxConns: ptr(1), MaxBytes: ptr(int64(1 << 30))}); err != nil {
		t.Fatal(err)
	}
	a, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "a"})
	if err != nil || !a.Granted || a.Lease.Conns != 1 || a.TTLMs != ttl.Milliseconds() {
		t.Fatalf("first lease: %+v, %v", a, err)
	}
	b, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "b"})
	if err != nil || b.Granted || b.Reason == "" || b.RetryMs <= 0 {
		t.Fatalf("second lease with one connection for all: %+v, %v", b, err)
	}
	// With a holder waiting, the one served longest yields at its renewal (they take turns).
	e.clock.Advance(time.Second)
	r, err := e.host.RenewLease(ctx, a.Lease.ID, api.LeaseRenew{Used: 1000, Feedback: api.OriginFeedback{Answers: 1, Trouble: 1, Status: 503}})
	if err != nil || r.Granted || r.Lost || r.Reason == "" {
		t.Fatalf("renewal with a holder waiting: %+v, %v", r, err)
	}
	st, _ := e.admin.Origins(ctx, originURL)
	if st[0].Spent != 1000 || st[0].Factor >= 1 {
		t.Errorf("after a renewal reporting 1000 bytes and a 503: spent %d, factor %v", st[0].Spent, st[0].Factor)
	}
	lost, err := e.host.RenewLease(ctx, a.Lease.ID, api.LeaseRenew{})
	if err != nil || !lost.Lost || lost.Granted {
		t.Errorf("renewing a lease given up: %+v, %v", lost, err)
	}
	b, err = e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "b"})
	if err != nil || !b.Granted {
		t.Fatalf("lease of the holder that waited: %+v, %v", b, err)
	}
	// A lease that is not renewed expires: its holder's share returns.
	e.clock.Advance(ttl)
	if st, _ := e.admin.Origins(ctx, originURL); len(st[0].Leases) != 0 {
		t.Errorf("leases after their lifetime: %+v", st[0].Leases)
	}
	if _, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL}); !api.IsCode(err, api.CodeBadRequest) {
		t.Errorf("lease without a holder: %v", err)
	}
	if err := e.host.ReleaseLease(ctx, "nope", 0); err != nil {
		t.Errorf("releasing an unknown lease: %v", err)
	}
}

func TestRestartedControllerKeepsPolicyAndSpent(t *testing.T) {
	t.Parallel()
	const ttl = 4 * time.Second
	e := newEnvWith(t, func(o *controller.Options) { o.LeaseTTL = ttl })
	ctx := ctxT(t)
	if _, err := e.admin.SetOrigin(ctx, api.OriginUpdate{Origin: originURL, MaxConns: ptr(2), MaxBytes: ptr(int64(1 << 30))}); err != nil {
		t.Fatal(err)
	}
	a, err := e.host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "a", Rate: 1 << 20})
	if err != nil || !a.Granted {
		t.Fatalf("lease: %+v, %v", a, err)
	}
	if _, err := e.host.RenewLease(ctx, a.Lease.ID, api.LeaseRenew{Used: 5000}); err != nil {
		t.Fatal(err)
	}
	// A new controller over the same store, as after a restart.
	srv := controller.New(e.st, controller.Options{AdminToken: adminToken, HostToken: hostToken, Now: e.clock.Now, LeaseTTL: ttl})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	admin, host := api.New(ts.URL, adminToken), api.New(ts.URL, hostToken)
	st, err := admin.Origins(ctx, originURL)
	if err != nil || st[0].MaxConns != 2 || st[0].MaxBytes != 1<<30 || st[0].Spent < 5000 {
		t.Fatalf("origin after restart: %+v, %v", st, err)
	}
	refused, err := host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "b"})
	if err != nil || refused.Granted || !strings.Contains(refused.Reason, "restarted") {
		t.Errorf("lease right after a restart: %+v, %v", refused, err)
	}
	e.clock.Advance(ttl)
	if ok, err := host.AcquireLease(ctx, api.LeaseRequest{Origin: originURL, Holder: "b"}); err != nil || !ok.Granted {
		t.Errorf("lease one lifetime after a restart: %+v, %v", ok, err)
	}
}
