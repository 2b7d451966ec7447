package cli

import (
	"strings"
	"testing"

	"dist/core/api"
)

// push --base sends the older version's path with the push; a relative one is a usage error
// before any request.
func TestPushBase(t *testing.T) {
	for _, tc := range []struct {
		name     string
		base     string
		code     int
		stderr   string
		wantBase string
	}{
		{"absolute", "/srv/images/v1.img", 0, "", "/srv/images/v1.img"},
		{"relative", "images/v1.img", ExitUsage, "--base: images/v1.img is a relative path", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			fc := newFakeController(t, api.DistComplete)
			r := runCLI(t, "--controller", fc.URL(), "--token", testToken, "push", "http://origin/app.tar",
				"--to", "all", "--dest", "/srv/images/v2.img", "--base", tc.base)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d, %q", r.code, r.stderr, tc.code, tc.stderr)
			}
			reqs := fc.requests()
			switch {
			case tc.wantBase == "" && len(reqs) != 0:
				t.Errorf("a refused --base still pushed: %+v", reqs)
			case tc.wantBase != "" && (len(reqs) != 1 || reqs[0].Base != tc.wantBase):
				t.Errorf("requests %+v, want one with base %q", reqs, tc.wantBase)
			}
		})
	}
}
