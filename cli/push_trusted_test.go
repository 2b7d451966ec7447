package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dist/core/api"
	"dist/core/content"
)

// publishingLocal is a LocalAPI on a unix socket that publishes the file it is given for real:
// its answer carries the file's metainfo and SHA-256.
func publishingLocal(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dist-sock-") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket := filepath.Join(dir, "dist.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p api.Publish
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || r.URL.Path != "/v1/publish" {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "bad publish", Code: api.CodeBadRequest})
			return
		}
		data, err := os.ReadFile(p.Path)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error(), Code: api.CodeBadRequest})
			return
		}
		sums, err := content.Hash(context.Background(), strings.NewReader(string(data)), int64(len(data)), 16<<10, 1)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, api.Error{Error: err.Error(), Code: api.CodeInternal})
			return
		}
		m, err := content.New(filepath.Base(p.Path), int64(len(data)), 16<<10, sums.Pieces, sums.SHA256)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, api.Error{Error: err.Error(), Code: api.CodeInternal})
			return
		}
		writeJSON(w, http.StatusOK, api.Published{Host: "pub1", Source: "http://pub1:7700/v1/files/" + m.InfoHash,
			Name: m.Name, Size: m.Size, InfoHash: m.InfoHash, Metainfo: m.Raw, SHA256: sums.SHA256})
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return socket
}

// push --trusted sends the publisher's metainfo marked trusted, with the same info hash and
// SHA-256; without the flag it goes unmarked; with a URL source it is a usage error before any
// request.
func TestPushTrusted(t *testing.T) {
	isolate(t)
	socket := publishingLocal(t)
	file := filepath.Join(t.TempDir(), "disk.img")
	data := []byte(strings.Repeat("image bytes ", 5000))
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for _, tc := range []struct {
		name string
		args []string
		mode string
	}{
		{"trusted", []string{"--trusted"}, content.ModeTrusted},
		{"normal", nil, content.ModeNormal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeController(t, api.DistComplete)
			r := runCLI(t, append([]string{"--controller", fc.URL(), "--token", testToken, "--socket", socket,
				"push", file, "--to", "all"}, tc.args...)...)
			if r.code != ExitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			reqs := fc.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d create requests, want 1", len(reqs))
			}
			m, err := content.Parse(reqs[0].Metainfo)
			if err != nil {
				t.Fatal(err)
			}
			if m.Mode() != tc.mode || m.SHA256 != hex.EncodeToString(sum[:]) || reqs[0].SHA256 != m.SHA256 {
				t.Errorf("metainfo in mode %s with sha256 %s (push %s), want %s and %x", m.Mode(), m.SHA256, reqs[0].SHA256, tc.mode, sum)
			}
			if !strings.Contains(reqs[0].Source, m.InfoHash) {
				t.Errorf("info hash %s changed from the publisher's (%s)", m.InfoHash, reqs[0].Source)
			}
			if got := checkText(reqs[0].Metainfo); !strings.HasPrefix(got, tc.mode+" ") {
				t.Errorf("dist show says %q, want mode %s", got, tc.mode)
			}
		})
	}
	t.Run("url", func(t *testing.T) {
		fc := newFakeController(t, api.DistComplete)
		r := runCLI(t, "--controller", fc.URL(), "--token", testToken, "push", "http://origin/app.tar", "--to", "all", "--trusted")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "--trusted needs a local file or partition") || len(fc.requests()) != 0 {
			t.Fatalf("exit %d, stderr %q, %d requests", r.code, r.stderr, len(fc.requests()))
		}
	})
}
