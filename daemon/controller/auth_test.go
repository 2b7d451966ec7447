package controller_test

import (
	"net/http"
	"testing"

	"dist/core/api"
	"dist/daemon/controller"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.register("c1", "a", api.RoleClient)
	hostBody := []byte(`{"name":"c9","roles":["client"]}`)
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		body   []byte
		want   int
	}{
		{"missing token", "GET", "/v1/hosts", "", nil, http.StatusUnauthorized},
		{"bad token", "GET", "/v1/hosts", "Bearer nope", nil, http.StatusUnauthorized},
		{"not bearer", "GET", "/v1/hosts", "Basic " + adminToken, nil, http.StatusUnauthorized},
		{"host token on hosts list", "GET", "/v1/hosts", "Bearer " + hostToken, nil, http.StatusUnauthorized},
		{"host token on create", "POST", "/v1/distributions", "Bearer " + hostToken, []byte(`{}`), http.StatusUnauthorized},
		{"host token on list", "GET", "/v1/distributions", "Bearer " + hostToken, nil, http.StatusUnauthorized},
		{"host token on get", "GET", "/v1/distributions/x", "Bearer " + hostToken, nil, http.StatusUnauthorized},
		{"host token on events", "GET", "/v1/events", "Bearer " + hostToken, nil, http.StatusUnauthorized},
		{"missing token on host route", "POST", "/v1/hosts", "", hostBody, http.StatusUnauthorized},
		{"bad token on watch", "GET", "/v1/watch?host=c1&version=x", "Bearer nope", nil, http.StatusUnauthorized},
		{"host token on host route", "POST", "/v1/hosts", "Bearer " + hostToken, hostBody, http.StatusNoContent},
		{"admin token on host route", "POST", "/v1/hosts", "Bearer " + adminToken, hostBody, http.StatusForbidden},
		{"admin token on admin route", "GET", "/v1/hosts", "Bearer " + adminToken, nil, http.StatusOK},
		{"scheme is case-insensitive", "GET", "/v1/hosts", "bearer " + adminToken, nil, http.StatusOK},
		{"health needs no token", "GET", "/healthz", "", nil, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, code := rawRequest(t, tt.method, e.url+tt.path, tt.auth, tt.body)
			if status != tt.want {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.path, status, tt.want)
			}
			if tt.want == http.StatusUnauthorized && code != api.CodeUnauthorized {
				t.Fatalf("%s %s: code %q, want %q", tt.method, tt.path, code, api.CodeUnauthorized)
			}
		})
	}
}

func TestEmptyTokenNeverMatches(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *controller.Options) { o.AdminToken = ""; o.HostToken = "" })
	for _, auth := range []string{"", "Bearer ", "Bearer  "} {
		if status, _ := rawRequest(t, "GET", e.url+"/v1/hosts", auth, nil); status != http.StatusUnauthorized {
			t.Errorf("auth %q with no configured token: status %d, want 401", auth, status)
		}
	}
	if status, _ := rawRequest(t, "POST", e.url+"/v1/hosts", "Bearer ", []byte(`{"name":"x"}`)); status != http.StatusUnauthorized {
		t.Errorf("empty host token accepted: status %d", status)
	}
}

func TestUnknownRouteIsJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	status, code := rawRequest(t, "GET", e.url+"/v1/nope", "Bearer "+adminToken, nil)
	if status != http.StatusNotFound || code != api.CodeNotFound {
		t.Fatalf("unknown route: %d %q, want 404 not_found", status, code)
	}
}
