//go:build !windows

package local

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLocalRefusesBrowsers serves the LocalAPI's guard on a real unix socket: requests with a
// browser's Origin or Referer are refused, the CLI's own are served.
func TestLocalRefusesBrowsers(t *testing.T) {
	dir, err := os.MkdirTemp("", "dist-local-") // socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := listenLocal(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: refuseBrowsers(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode %v (%v), want 0660", fi.Mode().Perm(), err)
	}
	// A second daemon on the same socket is refused while the first one answers.
	if _, err := listenLocal(sock); err == nil {
		t.Error("a second listener took a live socket")
	}

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	tests := []struct {
		name, header, value string
		want                int
	}{
		{"cli", "", "", http.StatusNoContent},
		{"origin", "Origin", "https://evil.example", http.StatusForbidden},
		{"referer", "Referer", "https://evil.example/page", http.StatusForbidden},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(http.MethodGet, "http://local/v1/status", nil)
		if tc.header != "" {
			req.Header.Set(tc.header, tc.value)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}
