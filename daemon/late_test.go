package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon/demo/origin"
)

// stop ends one daemon of the fleet as if its host went away.
func (f *fleet) stop(name string) {
	f.t.Helper()
	d, ok := f.daemons[name]
	if !ok {
		f.t.Fatalf("no daemon %s", name)
	}
	d.Close()
	f.cancel[name]()
	delete(f.daemons, name)
	delete(f.cancel, name)
}

// TestOfflineAndLateHosts pushes to site a while one of its hosts is down and before another one
// exists: the first gets its task when it comes back, the second joins when it registers, and
// every one of them ends with the file.
func TestOfflineAndLateHosts(t *testing.T) {
	t.Parallel()
	const size = 8<<20 + 4321
	f := newFleet(t)
	src := filepath.Join(f.dir, "late.img")
	sum, err := origin.Generate(src, size, 11)
	if err != nil {
		t.Fatal(err)
	}
	org, err := origin.Start(origin.Options{File: src})
	if err != nil {
		t.Fatal(err)
	}
	defer org.Close()
	siteA := map[string]string{"site": "a"}
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, siteA)
	f.start("offline", []api.Role{api.RoleClient}, siteA)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f.waitHosts(ctx, 4)
	f.stop("offline") // registered, then gone before the push

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"site=a"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Targets != 2 {
		t.Fatalf("targets = %d, want 2 (client-1 and the offline host)", d.Targets)
	}
	f.start("late", []api.Role{api.RoleClient}, siteA) // registers after the push
	f.start("offline", []api.Role{api.RoleClient}, siteA)
	f.start("other-site", []api.Role{api.RoleClient}, map[string]string{"site": "b"})

	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete || d.Targets != 3 {
		t.Fatalf("state %s with %d targets, want complete with 3: %+v", d.State, d.Targets, d.Assignments)
	}
	for _, c := range []string{"client-1", "offline", "late"} {
		got, err := content.SHA256File(ctx, filepath.Join(f.dir, c, "files", "late.img"))
		if err != nil || got != sum {
			t.Errorf("%s copy sha256 %s (%v), want %s", c, got, err, sum)
		}
	}
	for _, a := range d.Assignments {
		if a.Host == "other-site" {
			t.Errorf("other-site (site b) was given a task of a push to site=a")
		}
	}

	// Every daemon serves its figures to Prometheus; the client's bytes by source are there.
	body := scrape(t, f.daemons["late"].HTTPURL()+"/metrics")
	want := fmt.Sprintf(`dist_task_bytes_total{dist="%s",role="client",source="bt"}`, d.ID)
	if !strings.Contains(body, want) || !strings.Contains(body, "# TYPE dist_task_bytes_total counter") {
		t.Errorf("client metrics lack %s:\n%s", want, body)
	}
	body = scrape(t, f.ctrl.HTTPURL()+"/metrics")
	if !strings.Contains(body, `dist_controller_distributions{state="complete"} 1`) {
		t.Errorf("controller metrics lack the complete distribution:\n%s", body)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := anyTLS.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("metrics content type %q", ct)
	}
	return string(b)
}
