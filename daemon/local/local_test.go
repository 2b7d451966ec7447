//go:build !windows

package local

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	ln, err := listenLocal(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: refuseBrowsers(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// A second daemon on the same socket is refused while the first one answers.
	if _, err := listenLocal(sock, ""); err == nil {
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

// TestOtherUserCannotReachSocket runs a helper process as an unprivileged user (nobody) against a
// socket in a directory it may enter: the socket's mode keeps it out.
func TestOtherUserCannotReachSocket(t *testing.T) {
	if os.Getenv("DIST_DIAL_SOCKET") != "" {
		return // the helper's run of this test: see dialHelper
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a helper as another user")
	}
	dir, err := os.MkdirTemp("", "dist-local-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // nobody may enter: only the socket's mode counts
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "d.sock")
	ln, err := listenLocal(sock, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// The helper is this test binary, copied where nobody may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "helper")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestDialHelper$")
	cmd.Env = append(os.Environ(), "DIST_DIAL_SOCKET="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "refused:") {
		t.Fatalf("an unprivileged user reached the LocalAPI socket: %s", out)
	}
}

// TestDialHelper is the helper's side of TestOtherUserCannotReachSocket.
func TestDialHelper(t *testing.T) {
	sock := os.Getenv("DIST_DIAL_SOCKET")
	if sock == "" {
		t.Skip("helper of TestOtherUserCannotReachSocket")
	}
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	c.Close()
	fmt.Println("connected")
}
