package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/api"
)

// withCancel serves POST /v1/distributions/d1/cancel in front of the fake controller.
func withCancel(t *testing.T, fc *fakeController) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/cancel") {
			if r.Header.Get("Authorization") != "Bearer "+testToken {
				writeJSON(w, http.StatusUnauthorized, api.Error{Error: "bad token", Code: api.CodeUnauthorized})
				return
			}
			switch r.URL.Path {
			case "/v1/distributions/d1/cancel":
				writeJSON(w, http.StatusOK, fc.dist(api.DistCancelled))
			case "/v1/distributions/done/cancel":
				writeJSON(w, http.StatusConflict, api.Error{Error: "distribution done already ended complete", Code: api.CodeConflict})
			default:
				writeJSON(w, http.StatusNotFound, api.Error{Error: "no such distribution", Code: api.CodeNotFound})
			}
			return
		}
		fc.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestTopAndCancel checks the documented JSON fields and the exit codes of dist top and dist cancel.
func TestTopAndCancel(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		fields []string // keys of the JSON object on stdout
		stdout string   // substring of human output
		stderr string
	}{
		{"top json", []string{"--json", "top"}, ExitOK,
			[]string{"at", "controller", "hosts", "hosts_online", "distributions", "limits", "limits_known", "events"}, "", ""},
		{"top swarm json", []string{"--json", "top", "d1"}, ExitOK, []string{"distributions", "swarm"}, "", ""},
		{"top plain", []string{"top"}, ExitOK, nil, "app.tar", ""},
		{"top plain swarm", []string{"top", "d1"}, ExitOK, nil, "web2 failed: disk full", ""},
		{"top unknown distribution", []string{"top", "nosuch"}, ExitNotFound, nil, "", "no such distribution: nosuch"},
		{"top bad token", []string{"--token", "wrong", "top"}, ExitUnauthorized, nil, "", "controller refused the token"},
		{"top bad interval", []string{"top", "--interval", "1ms"}, ExitUsage, nil, "", "--interval"},
		{"cancel json", []string{"--json", "cancel", "d1"}, ExitOK, []string{"id", "state", "ended_at", "targets"}, "", ""},
		{"cancel", []string{"cancel", "d1"}, ExitOK, nil, "d1 cancelled", ""},
		{"cancel ended", []string{"cancel", "done"}, ExitError, nil, "", "already ended"},
		{"cancel unknown", []string{"cancel", "nosuch"}, ExitNotFound, nil, "", "no such distribution: nosuch"},
		{"cancel no id", []string{"cancel"}, ExitUsage, nil, "", "expected \"<id>\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			fc := newFakeController(t, api.DistPartial)
			r := runCLI(t, append([]string{"--controller", withCancel(t, fc), "--token", testToken}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stdout %q stderr %q, want %q and %q", r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
			if tc.stderr == "" && r.stderr != "" {
				t.Errorf("stderr %q, want it empty", r.stderr)
			}
			if tc.fields == nil {
				return
			}
			var obj map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
				t.Fatalf("stdout is not one JSON object (%v): %s", err, r.stdout)
			}
			for _, k := range tc.fields {
				if _, ok := obj[k]; !ok {
					t.Errorf("output lacks %q: %s", k, r.stdout)
				}
			}
			if ds, ok := obj["distributions"].([]any); ok {
				d := ds[0].(map[string]any)
				for _, k := range []string{"id", "name", "state", "size", "targets", "done", "failed", "have", "rate", "eta_ns",
					"bytes_bt", "bytes_http_relay", "bytes_http_origin"} {
					if _, ok := d[k]; !ok {
						t.Errorf("distribution lacks %q: %v", k, d)
					}
				}
			}
			if sw, ok := obj["swarm"].(map[string]any); ok {
				hosts, _ := sw["hosts"].([]any)
				if len(hosts) != 2 {
					t.Fatalf("swarm hosts %v, want the 2 clients", sw["hosts"])
				}
				h := hosts[1].(map[string]any)
				for _, k := range []string{"name", "state", "have", "size", "rate_bt", "rate_http", "peers", "error"} {
					if _, ok := h[k]; !ok {
						t.Errorf("host lacks %q: %v", k, h)
					}
				}
			}
		})
	}
}

func TestTopUnreachable(t *testing.T) {
	isolate(t)
	r := runCLI(t, "--json", "--controller", closedPort(t), "--token", testToken, "top")
	var e jsonError
	if r.code != ExitUnreachable || json.Unmarshal([]byte(r.stderr), &e) != nil || e.Code != "unreachable" || r.stdout != "" {
		t.Errorf("exit %d stdout %q stderr %q, want %d and a JSON error", r.code, r.stdout, r.stderr, ExitUnreachable)
	}
	sock := filepath.Join(t.TempDir(), "none.sock")
	r = runCLI(t, "--socket", sock, "top", "--host")
	if r.code != ExitUnreachable || !strings.Contains(r.stderr, "cannot reach the local daemon") {
		t.Errorf("--host without a daemon: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestTopHost reads a LocalAPI on a unix socket, and checks that it is asked without browser headers.
func TestTopHost(t *testing.T) {
	isolate(t)
	dir, err := os.MkdirTemp("", "dist-top-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "dist.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/status" || r.Header.Get("Origin") != "" || r.Header.Get("Referer") != "" {
			writeJSON(w, http.StatusNotFound, api.Error{Error: "not found", Code: api.CodeNotFound})
			return
		}
		writeJSON(w, http.StatusOK, api.Status{Name: "web1", Roles: []api.Role{api.RoleClient}, Tasks: []api.TaskReport{
			{ID: "d1/web1/client", State: api.TaskDownloading, Have: 5 << 20, BytesBT: 5 << 20, Peers: 3, Mode: "assisting", ModeReason: "bt slow"},
		}})
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	r := runCLI(t, "--socket", sock, "--json", "top", "--host")
	var snap struct {
		Local struct {
			Name  string           `json:"name"`
			Tasks []map[string]any `json:"tasks"`
		} `json:"local"`
	}
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &snap) != nil || snap.Local.Name != "web1" || len(snap.Local.Tasks) != 1 {
		t.Fatalf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	if task := snap.Local.Tasks[0]; task["dist_id"] != "d1" || task["assist"] != "assisting" || task["assist_reason"] != "bt slow" {
		t.Errorf("task %v", task)
	}
	r = runCLI(t, "--socket", sock, "top", "--host")
	if r.code != ExitOK || !strings.Contains(r.stdout, "dist top --host · web1") || !strings.Contains(r.stdout, "d1 (client) assisting: bt slow") {
		t.Errorf("plain --host: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
