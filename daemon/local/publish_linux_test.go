package local

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"dist/core/api"
	"dist/daemon/serve"
)

// TestUnprivilegedPublish serves the LocalAPI with a socket group and runs a helper process as
// nobody (uid and gid 65534), a member of that group, against it. The helper cannot publish a
// root-only file (0600) by naming it, by passing another file's descriptor or an O_PATH one, nor
// a device; a publication whose path was swapped under the publisher is withdrawn; it can
// publish a file it can read. Root, the daemon's own user, still publishes by path alone.
func TestUnprivilegedPublish(t *testing.T) {
	if os.Getenv("DIST_PUBLISH_SOCKET") != "" {
		return // the helper's run of this test: see TestPublishHelper
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a helper as another user (uid 65534)")
	}
	dir, err := os.MkdirTemp("", "dist-local-") // socket paths must stay short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret, public := filepath.Join(dir, "secret"), filepath.Join(dir, "public")
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(public, []byte("anyone"), 0o644); err != nil {
		t.Fatal(err)
	}
	race := filepath.Join(dir, "race")
	if err := os.WriteFile(race, []byte("anyone"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The publisher holds what it opened, by "info hash" (the path here); withdrawn lists what
	// the LocalAPI took back.
	var mu sync.Mutex
	var published, withdrawn []string
	held := map[string]*os.File{}
	t.Cleanup(func() {
		for _, f := range held {
			f.Close()
		}
	})
	sock := filepath.Join(dir, "d.sock")
	srv, err := Listen(Config{Socket: sock, Group: "65534", Status: func() api.Status { return api.Status{} },
		Publish: func(_ context.Context, req api.Publish) (api.Published, error) {
			open := req.Path
			if open == race {
				open = secret // as if the path were swapped between the check and the open
			}
			f, err := os.Open(open)
			if err != nil {
				return api.Published{}, err
			}
			mu.Lock()
			defer mu.Unlock()
			published = append(published, req.Path)
			held[req.Path] = f
			return api.Published{Name: filepath.Base(req.Path), InfoHash: req.Path}, nil
		},
		Held: func(hash string) (serve.File, bool) {
			mu.Lock()
			defer mu.Unlock()
			f := held[hash]
			return serve.File{Data: f}, f != nil
		},
		Unpublish: func(_ context.Context, what string) (api.Published, error) {
			mu.Lock()
			defer mu.Unlock()
			withdrawn = append(withdrawn, what)
			return api.Published{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { srv.srv.Close() })
	var st syscall.Stat_t
	if err := syscall.Stat(sock, &st); err != nil || st.Mode&0o777 != 0o660 || st.Gid != 65534 {
		t.Fatalf("socket mode %o gid %d (%v), want 0660 and gid 65534", st.Mode&0o777, st.Gid, err)
	}

	// Root publishes by path alone.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := api.NewLocal(sock).Publish(ctx, api.Publish{Path: secret}); err != nil {
		t.Fatalf("root publishing by path: %v", err)
	}

	bin := filepath.Join(dir, "helper")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestPublishHelper$")
	cmd.Env = append(os.Environ(), "DIST_PUBLISH_SOCKET="+sock, "DIST_PUBLISH_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		var r helperResult
		if json.Unmarshal([]byte(line), &r) == nil && r.Case != "" {
			got[r.Case] = r.Err
		}
	}
	tests := []struct{ name, want string }{
		{"open secret", "permission denied"}, // the helper really is unprivileged
		{"secret by path", "no open file came with the request"},
		{"secret path, public descriptor", "is not the file that was passed"},
		{"secret O_PATH descriptor", "not open for reading"},
		{"device", "needs root"},
		{"device as a file", "not a regular file"},
		{"relative path", "give an absolute path"},
		{"path swapped under the publisher", "not the one passed"},
		{"public", ""},
	}
	for _, tc := range tests {
		e, ok := got[tc.name]
		switch {
		case !ok:
			t.Errorf("%s: no result from the helper: %s", tc.name, out)
		case tc.want == "" && e != "":
			t.Errorf("%s: %s, want it published", tc.name, e)
		case !strings.Contains(e, tc.want):
			t.Errorf("%s: error %q, want one saying %q", tc.name, e, tc.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{secret, race, public}; fmt.Sprint(published) != fmt.Sprint(want) {
		t.Errorf("the daemon published %v, want %v (root's secret, the swapped path, nobody's public file)", published, want)
	}
	if want := []string{race}; fmt.Sprint(withdrawn) != fmt.Sprint(want) {
		t.Errorf("the daemon withdrew %v, want %v (the swapped path)", withdrawn, want)
	}
}

type helperResult struct{ Case, Err string }

// TestPublishHelper is the unprivileged side of TestUnprivilegedPublish: it prints one result
// per case.
func TestPublishHelper(t *testing.T) {
	sock, dir := os.Getenv("DIST_PUBLISH_SOCKET"), os.Getenv("DIST_PUBLISH_DIR")
	if sock == "" {
		t.Skip("helper of TestUnprivilegedPublish")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	secret, public := filepath.Join(dir, "secret"), filepath.Join(dir, "public")
	report := func(name string, err error) {
		r := helperResult{Case: name}
		if err != nil {
			r.Err = err.Error()
		}
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	withFile := func(open func() (*os.File, error), path string) error {
		f, err := open()
		if err != nil {
			return fmt.Errorf("open: %w", err)
		}
		defer f.Close()
		_, err = api.PublishFile(ctx, sock, api.Publish{Path: path}, f)
		return err
	}
	f, err := os.Open(secret)
	if err == nil {
		f.Close()
	}
	report("open secret", err)
	_, err = api.NewLocal(sock).Publish(ctx, api.Publish{Path: secret})
	report("secret by path", err)
	report("secret path, public descriptor", withFile(func() (*os.File, error) { return os.Open(public) }, secret))
	report("secret O_PATH descriptor", withFile(func() (*os.File, error) {
		fd, err := unix.Open(secret, unix.O_PATH|unix.O_CLOEXEC, 0)
		return os.NewFile(uintptr(fd), secret), err
	}, secret))
	_, err = api.NewLocal(sock).Publish(ctx, api.Publish{Path: "partition:///dev/sda"})
	report("device", err)
	report("device as a file", withFile(func() (*os.File, error) { return os.Open("/dev/null") }, "/dev/null"))
	report("relative path", withFile(func() (*os.File, error) { return os.Open(public) }, "public"))
	race := filepath.Join(dir, "race")
	report("path swapped under the publisher", withFile(func() (*os.File, error) { return os.Open(race) }, race))
	report("public", withFile(func() (*os.File, error) { return os.Open(public) }, public))
}
