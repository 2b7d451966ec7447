package controller_test

import (
	"net/http"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/controller"
)

// A host that says goodbye is offline at once, not after the online window; its next call
// brings it back. A goodbye for an unknown host is no error, and one without a name is refused.
func TestGoodbyeTakesAHostOffline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("c1", "a", api.RoleClient)
	e.register("c2", "a", api.RoleClient)
	online := func() map[string]bool {
		hs, err := e.admin.Hosts(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, h := range hs {
			m[h.Name] = h.Online
		}
		return m
	}
	if m := online(); !m["c1"] || !m["c2"] {
		t.Fatalf("before goodbye: %v, want both online", m)
	}
	bye := func(host string) error {
		return e.host.Do(ctxT(t), http.MethodPost, controller.GoodbyePath+"?host="+host, nil, nil)
	}
	if err := bye("c1"); err != nil {
		t.Fatalf("goodbye: %v", err)
	}
	if m := online(); m["c1"] || !m["c2"] {
		t.Fatalf("after c1's goodbye: %v, want c1 offline and c2 online", m)
	}
	if err := bye("c1"); err != nil {
		t.Fatalf("a second goodbye: %v", err)
	}
	if err := bye("nobody"); err != nil {
		t.Fatalf("goodbye of an unknown host: %v", err)
	}
	if st, _ := statusCode(t, bye("")); st != http.StatusBadRequest {
		t.Fatalf("goodbye without a host: status %d, want 400", st)
	}
	e.clock.Advance(time.Millisecond)
	e.report("c1")
	if m := online(); !m["c1"] {
		t.Fatalf("after c1 reported again: %v, want it online", m)
	}
}
