package daemon_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon/demo/origin"
)

// A published file is served again after a restart only while it is the same file: one swapped
// for another of the same size is dropped, and a symbolic link is refused from the start.
func TestPublishedFileSwappedIsNotServed(t *testing.T) {
	t.Parallel()
	f := newFleet(t)
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 2)
	src := filepath.Join(f.dir, "pub.bin")
	if _, err := origin.Generate(src, 1<<20, 61); err != nil {
		t.Fatal(err)
	}
	local := api.NewLocal(f.daemons["publisher"].Config().Socket)
	link := filepath.Join(f.dir, "link.bin")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Publish(ctx, api.Publish{Path: link}); !api.IsCode(err, api.CodeSource) {
		t.Fatalf("publishing a symbolic link: %v, want a source error", err)
	}
	p, err := local.Publish(ctx, api.Publish{Path: src})
	if err != nil {
		t.Fatal(err)
	}
	status := func() int {
		resp, err := f.http.Get(p.Source)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusOK {
		t.Fatalf("published file answers %d", got)
	}
	if resp, err := anyTLS.Get(p.Source); err != nil {
		t.Errorf("published file without a host certificate: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("published file without a host certificate: %s, want 401", resp.Status)
		}
	}
	// Restarted over the same file: served again.
	f.stop("publisher")
	pub := f.start("publisher", []api.Role{api.RoleClient}, nil)
	p.Source = pub.HTTPURL() + "/v1/files/" + p.InfoHash
	if got := status(); got != http.StatusOK {
		t.Fatalf("after a restart over the same file: %d, want 200", got)
	}
	// Another file of the same size put in its place while the daemon was away: not served.
	f.stop("publisher")
	other := filepath.Join(f.dir, "other.bin")
	if _, err := origin.Generate(other, 1<<20, 62); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, src); err != nil {
		t.Fatal(err)
	}
	pub = f.start("publisher", []api.Role{api.RoleClient}, nil)
	p.Source = pub.HTTPURL() + "/v1/files/" + p.InfoHash
	if got := status(); got != http.StatusNotFound {
		t.Fatalf("a swapped file is still served after a restart: %d, want 404", got)
	}
}
