package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/api"
)

// TestControllerTrust: the CLI reaches a TLS controller it trusts by CA file or fingerprint, and
// stops with one line naming the fix when it does not.
func TestControllerTrust(t *testing.T) {
	isolate(t)
	fc := newFakeController(t, api.DistComplete)
	caFile := os.Getenv("DIST_CA_FILE")
	os.Unsetenv("DIST_CA_FILE")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--controller", fc.URL(), "--token-file", tokenFile}
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr; "" means success
	}{
		{"ca file", []string{"--ca-file", caFile}, ExitOK, ""},
		{"fingerprint", []string{"--ca-fingerprint", fc.ca.Fingerprint()}, ExitOK, ""},
		{"fingerprint in capitals", []string{"--ca-fingerprint", strings.ToUpper(fc.ca.Fingerprint())}, ExitOK, ""},
		{"not trusted", nil, ExitError, "--ca-file"},
		{"other fingerprint", []string{"--ca-fingerprint", "sha256:" + strings.Repeat("0", 64)}, ExitError, "--ca-fingerprint"},
		{"bad fingerprint", []string{"--ca-fingerprint", "abc"}, ExitError, "sha256:<64 hex digits>"},
		{"missing ca file", []string{"--ca-file", filepath.Join(t.TempDir(), "nope.crt")}, ExitError, "ca file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, append(append(append([]string{}, base...), c.args...), "ls")...)
			if c.want == "" {
				if r.code != ExitOK || !strings.Contains(r.stdout, "app.tar") {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
				}
				return
			}
			if r.code == ExitOK || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("exit %d stderr %q, want one line naming %q", r.code, r.stderr, c.want)
			}
		})
	}
}

// TestSecretFlagWarning: a token given as a flag works and is warned about.
func TestSecretFlagWarning(t *testing.T) {
	for _, c := range []struct {
		name   string
		g      Globals
		tty    bool
		warned bool
	}{
		{"daemon", Globals{secretFlags: []string{"admin-token"}, isDaemon: true}, false, true},
		{"command on a terminal", Globals{secretFlags: []string{"token"}}, true, true},
		{"command in a script", Globals{secretFlags: []string{"token"}}, false, false},
		{"json on a terminal", Globals{secretFlags: []string{"token"}, JSON: true}, true, false},
		{"none", Globals{isDaemon: true}, true, false},
	} {
		var errb bytes.Buffer
		g := c.g
		g.setup(context.Background(), &bytes.Buffer{}, &errb, nil)
		g.errTTY = c.tty
		errb.Reset()
		g.warnSecretFlags(&errb)
		if got := strings.Contains(errb.String(), "visible to every user"); got != c.warned {
			t.Errorf("%s: warned %v (%q), want %v", c.name, got, errb.String(), c.warned)
		}
	}
}
