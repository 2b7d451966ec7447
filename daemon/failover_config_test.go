package daemon

import (
	"slices"
	"strings"
	"testing"

	"dist/core/api"
)

// TestConfigControllers: several controller addresses, given as a list or comma-separated, each
// held to https:// unless the fleet runs plain HTTP.
func TestConfigControllers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		controller  string
		controllers []string
		plain       bool
		want        []string
		wantErr     string
	}{
		{"comma-separated", "https://a:1, https://b:2/", nil, false, []string{"https://a:1", "https://b:2/"}, ""},
		{"list wins", "https://x", []string{"https://a", "https://b"}, false, []string{"https://a", "https://b"}, ""},
		{"one not https", "", []string{"https://a", "http://b"}, false, nil, "controller URL http://b is not https://"},
		{"plain http lab", "http://a,http://b", nil, true, []string{"http://a", "http://b"}, ""},
		{"none", " , ", nil, false, nil, "no controller"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Config{Roles: []api.Role{api.RoleClient}, Name: "h", Data: t.TempDir(), Token: "t",
				Controller: tc.controller, Controllers: tc.controllers, InsecurePlainHTTP: tc.plain}
			err := c.fill()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("fill: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Controllers, tc.want) || c.Controller != tc.want[0] {
				t.Fatalf("controllers %q, controller %q; want %q", c.Controllers, c.Controller, tc.want)
			}
		})
	}
}
