package controller

import "testing"

func TestRouteRoleDefaultsToAdmin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    Role
	}{
		{"GET /v1/distributions", RoleRead},
		{"POST /v1/distributions", RoleOperate},
		{"PUT /v1/origins", RoleAdmin},
		{"POST /v1/hosts/{name}/approve", RoleAdmin}, // not listed: closed to all but admin
		{"", RoleAdmin},
	}
	for _, tt := range tests {
		if got := routeRole(tt.pattern); got != tt.want {
			t.Errorf("routeRole(%q) = %s, want %s", tt.pattern, got, tt.want)
		}
	}
	for pattern := range routeRoles {
		if routeRole(pattern) >= RoleOperate && auditActions[pattern] == "" {
			t.Errorf("route %s needs %s but has no audit action name", pattern, routeRole(pattern))
		}
	}
}

func TestCallerMayActAs(t *testing.T) {
	t.Parallel()
	verified := caller{kind: callerHost, name: "c1", verified: true}
	plain := caller{kind: callerHost}
	op := caller{kind: callerOperator, name: "admin", role: RoleAdmin, verified: true}
	tests := []struct {
		c      caller
		name   string
		act    bool
		holder string
		hold   bool
	}{
		{verified, "c1", true, "c1", true},
		{verified, "c2", false, "c1/relay", true},
		{verified, "c1x", false, "c1x", false},
		{verified, "", false, "c2/relay", false},
		{plain, "c2", true, "anyone", true}, // lab mode: the shared token proves no name
		{op, "c1", false, "c1", false},      // operators are no host
	}
	for _, tt := range tests {
		if got := tt.c.mayActAs(tt.name); got != tt.act {
			t.Errorf("%+v mayActAs(%q) = %v, want %v", tt.c, tt.name, got, tt.act)
		}
		if got := tt.c.mayHold(tt.holder); got != tt.hold {
			t.Errorf("%+v mayHold(%q) = %v, want %v", tt.c, tt.holder, got, tt.hold)
		}
	}
}
