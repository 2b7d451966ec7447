package daemon_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon/demo/origin"
)

// Pushing the same content a second time, to hosts that still seed the first copy, reuses it: the
// second distribution completes from what the hosts hold, and nothing crosses the network again.
func TestPushTwiceReusesTheCopy(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f, clients := relayFleet(ctx, t, 2)
	org, first, sum := pushURL(ctx, t, f, size, origin.Options{})
	if end := f.waitEnded(ctx, first.ID); end.State != api.DistComplete {
		t.Fatalf("first push: %s", end.State)
	}
	served := org.Stats().BytesServed
	second, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	end := f.waitEnded(ctx, second.ID)
	if end.State != api.DistComplete {
		t.Fatalf("second push of the same content: %s: %+v", end.State, end.Assignments)
	}
	for _, c := range clients {
		got, err := content.SHA256File(ctx, filepath.Join(f.dir, c, "files", "src.img"))
		if err != nil || got != sum {
			t.Errorf("%s second copy sha256 %s (%v), want %s", c, got, err, sum)
		}
	}
	for _, a := range end.Assignments {
		if a.Role == api.RoleClient && a.BytesBT+a.BytesHTTPRelay+a.BytesHTTPOrigin > 0 {
			t.Errorf("%s fetched %d bytes again for content it held", a.Host, a.BytesBT+a.BytesHTTPRelay+a.BytesHTTPOrigin)
		}
	}
	// The second relay pull is the only origin traffic the second push may cause.
	if again := org.Stats().BytesServed - served; again > size+2 {
		t.Errorf("origin served %d bytes for the second push, more than one pull", again)
	}
}

// A host that publishes a local file and is also one of its targets ends done (the README's
// `dist push ./file --to all` from any host).
func TestPublisherIsAlsoATarget(t *testing.T) {
	t.Parallel()
	const size = 4<<20 + 77
	f := newFleet(t)
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)
	src := filepath.Join(f.dir, "local.bin")
	sum, err := origin.Generate(src, size, 5)
	if err != nil {
		t.Fatal(err)
	}
	p, err := api.NewLocal(f.daemons["publisher"].Config().Socket).Publish(ctx, api.Publish{Path: src})
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host, To: []string{"all"},
	})
	if err != nil {
		t.Fatal(err)
	}
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state %s, want complete: %+v", end.State, end.Assignments)
	}
	for _, h := range []string{"publisher", "client-1"} {
		got, err := content.SHA256File(ctx, filepath.Join(f.dir, h, "files", "local.bin"))
		if err != nil || got != sum {
			t.Errorf("%s copy sha256 %s (%v), want %s", h, got, err, sum)
		}
	}
}
