package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/api"
)

// namedController answers GET /v1/hosts with one host named after itself, so a test can tell which
// of several controllers the CLI talked to.
func namedController(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []api.Host{{Name: name, Roles: []api.Role{api.RoleClient}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeConfig(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigPrecedence proves default < config file < environment < flag for --controller. Kong
// alone would let the file beat the environment (it applies env while resetting to defaults and
// runs resolvers afterwards); configResolver steps aside when the env var is set.
func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name        string
		file, env   bool
		flag        bool
		defaultFile bool // the per-user default file instead of --config/DIST_CONFIG
		want        string
	}{
		{name: "file", file: true, want: "file"},
		{name: "default user file", file: true, defaultFile: true, want: "file"},
		{name: "env beats file", file: true, env: true, want: "env"},
		{name: "env beats default file", file: true, defaultFile: true, env: true, want: "env"},
		{name: "flag beats env and file", file: true, env: true, flag: true, want: "flag"},
		{name: "flag beats file", file: true, flag: true, want: "flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			urls := map[string]string{}
			for _, n := range []string{"file", "env", "flag"} {
				urls[n] = namedController(t, n)
			}
			cfg := map[string]any{"controller": urls["file"]}
			if tc.defaultFile {
				os.Unsetenv("DIST_CONFIG")
				dir := t.TempDir()
				t.Setenv("XDG_CONFIG_HOME", dir)
				writeConfig(t, filepath.Join(dir, "dist", "config.json"), cfg)
			} else {
				t.Setenv("DIST_CONFIG", writeConfig(t, filepath.Join(t.TempDir(), "c.json"), cfg))
			}
			if tc.env {
				t.Setenv("DIST_CONTROLLER", urls["env"])
			}
			args := []string{"--json", "hosts"}
			if tc.flag {
				args = append([]string{"--controller", urls["flag"]}, args...)
			}
			r := runCLI(t, args...)
			if r.code != ExitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, `"name": "`+tc.want+`"`) {
				t.Errorf("talked to the wrong controller, want %q: %s", tc.want, r.stdout)
			}
		})
	}
}

func TestConfigFile(t *testing.T) {
	tests := []struct {
		name   string
		config any // written to the --config file; nil = no file at all
		args   []string
		code   int
		stderr string
	}{
		{"missing explicit file", nil, []string{"version"}, ExitUsage, "no such file"},
		{"not json", "{", []string{"version"}, ExitUsage, "parse json"},
		{"unknown key", map[string]any{"controler": "http://x"}, []string{"version"}, ExitUsage, `unknown key "controler"`},
		{"per-push flag refused", map[string]any{"to": []string{"all"}}, []string{"version"}, ExitUsage, `unknown key "to"`},
		{"daemon keys accepted", map[string]any{"bt-listen": ":7000", "log_level": "debug", "label": map[string]string{"site": "a"}}, []string{"version"}, ExitOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			path := filepath.Join(t.TempDir(), "config.json")
			switch v := tc.config.(type) {
			case nil:
			case string:
				if err := os.WriteFile(path, []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			default:
				writeConfig(t, path, v)
			}
			r := runCLI(t, append([]string{"--config", path}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d stderr %q, want %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}
