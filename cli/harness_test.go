package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/pki"
)

// result is what one CLI invocation produced.
type result struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs dist in-process with captured streams.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// isolate clears the environment dist reads and points it at an empty config file, so that
// neither the developer's shell nor /etc/dist/config.json leaks into a test.
func isolate(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "DIST_") || k == "NO_COLOR" || k == "CLICOLOR_FORCE" {
			t.Setenv(k, "") // restores the old value after the test
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DIST_CONFIG", empty)
}

const testToken = "s3cret"

// fakeController is an in-memory stand-in for the controller API on loopback: just enough of /v1/
// to drive every branch of the CLI.
type fakeController struct {
	srv    *httptest.Server
	ca     *pki.CA       // the CA it serves under
	final  api.DistState // state answered by GET /v1/distributions/d1
	active int           // number of GETs answered "active" before final
	onGet  func()        // called on each GET of d1, before answering

	mu      sync.Mutex
	created []api.CreateDistribution
}

// newFakeController serves over TLS like a real controller, with a CA of its own that the CLI
// trusts through DIST_CA_FILE (set for the test, so call it after isolate).
func newFakeController(t *testing.T, final api.DistState) *fakeController {
	t.Helper()
	f := &fakeController{final: final}
	ca, _, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.ca = ca
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = ca.ServerConfig()
	// httptest's own certificate would win over GetCertificate for a client sending no SNI (an
	// IP address): serve the controller's certificate as the only one.
	cert, err := ca.ServingCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.TLS.Certificates = []tls.Certificate{*cert}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	t.Setenv("DIST_CA_FILE", ca.CertFile())
	return f
}

func (f *fakeController) URL() string { return f.srv.URL }

func (f *fakeController) requests() []api.CreateDistribution {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.CreateDistribution(nil), f.created...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeController) dist(state api.DistState) api.Distribution {
	d := api.Distribution{
		ID: "d1", Name: "app.tar", Source: "http://origin/app.tar", Size: 10 << 20, State: state,
		Selectors: []string{"all"}, CreatedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Targets: 3,
	}
	switch state {
	case api.DistComplete:
		d.Done, d.Have, d.BytesBT, d.BytesHTTPRelay = 3, 30<<20, 25<<20, 5<<20
	case api.DistPartial:
		d.Done, d.Failed, d.Have = 2, 1, 20<<20
	case api.DistFailed, api.DistCancelled:
		d.Failed = 3
	}
	if !state.Ended() {
		return d
	}
	d.EndedAt = d.CreatedAt.Add(90 * time.Second)
	d.Assignments = []api.Assignment{
		{ID: "d1/relay-1/relay", DistID: "d1", Host: "relay-1", Role: api.RoleRelay, State: api.TaskSeeding, Have: 10 << 20},
		{ID: "d1/web1/client", DistID: "d1", Host: "web1", Role: api.RoleClient, State: api.TaskDone, Have: 10 << 20, BytesBT: 10 << 20, Peers: 2},
		{ID: "d1/web2/client", DistID: "d1", Host: "web2", Role: api.RoleClient, State: api.TaskFailed, Error: "disk full"},
	}
	return d
}

func (f *fakeController) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		writeJSON(w, http.StatusUnauthorized, api.Error{Error: "bad token", Code: api.CodeUnauthorized})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/distributions":
		var req api.CreateDistribution
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error(), Code: api.CodeBadRequest})
			return
		}
		for _, s := range req.To {
			if strings.HasPrefix(s, "nosuch") {
				writeJSON(w, http.StatusUnprocessableEntity, api.Error{Error: "no host matches selector " + s, Code: api.CodeNoTargets})
				return
			}
		}
		if strings.Contains(req.Source, "/missing") {
			writeJSON(w, http.StatusBadGateway, api.Error{Error: "origin answered 404 Not Found for " + req.Source, Code: api.CodeSource})
			return
		}
		f.mu.Lock()
		f.created = append(f.created, req)
		f.mu.Unlock()
		writeJSON(w, http.StatusCreated, f.dist(api.DistPending))
	case r.Method == http.MethodGet && r.URL.Path == "/v1/distributions":
		writeJSON(w, http.StatusOK, []api.Distribution{f.dist(f.final)})
	case r.Method == http.MethodGet && r.URL.Path == "/v1/distributions/d1":
		if f.onGet != nil {
			f.onGet()
		}
		f.mu.Lock()
		state := f.final
		if f.active > 0 {
			f.active--
			state = api.DistActive
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, f.dist(state))
	case r.Method == http.MethodGet && r.URL.Path == "/v1/hosts":
		writeJSON(w, http.StatusOK, []api.Host{
			{Name: "ctl", Roles: []api.Role{api.RoleController}, Online: true, LastSeen: time.Now(), HTTPURL: "http://10.0.0.1:7700"},
			{Name: "web1", Roles: []api.Role{api.RoleClient}, Labels: map[string]string{"site": "ams1"}, LastSeen: time.Now().Add(-time.Hour)},
		})
	default:
		writeJSON(w, http.StatusNotFound, api.Error{Error: "no distribution " + strings.TrimPrefix(r.URL.Path, "/v1/distributions/"), Code: api.CodeNotFound})
	}
}

// fakeLocal is a stand-in for the local daemon's LocalAPI on a unix socket.
type fakeLocal struct {
	socket string

	mu        sync.Mutex
	published []api.Publish
}

func newFakeLocal(t *testing.T) *fakeLocal {
	t.Helper()
	// Unix socket paths are short (~100 bytes): t.TempDir() names can be too long.
	dir, err := os.MkdirTemp("", "dist-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeLocal{socket: filepath.Join(dir, "dist.sock")}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/publish" {
			writeJSON(w, http.StatusNotFound, api.Error{Error: "not found", Code: api.CodeNotFound})
			return
		}
		var p api.Publish
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error(), Code: api.CodeBadRequest})
			return
		}
		f.mu.Lock()
		f.published = append(f.published, p)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, api.Published{
			Host: "pub1", Source: "http://pub1:7700/v1/content/x", Name: filepath.Base(p.Path), Size: 4,
			InfoHash: "abcd", Metainfo: []byte("d4:infod6:lengthi4eee"), SHA256: strings.Repeat("ab", 32),
		})
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *fakeLocal) requests() []api.Publish {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.Publish(nil), f.published...)
}

// closedPort returns a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}
