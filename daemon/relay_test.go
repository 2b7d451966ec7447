package daemon_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// slowOrigin generates a file of size bytes and serves it at rate bytes/s.
func slowOrigin(t *testing.T, f *fleet, size, rate int64) (*origin.Origin, string) {
	t.Helper()
	src := filepath.Join(f.dir, "src.img")
	sum, err := origin.Generate(src, size, 11)
	if err != nil {
		t.Fatal(err)
	}
	org, err := origin.Start(origin.Options{File: src, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	return org, sum
}

// taskOf polls a daemon's LocalAPI until its task for dist satisfies ok, and returns it.
func taskOf(ctx context.Context, t *testing.T, d *daemon.Daemon, dist string, ok func(api.TaskReport) bool) api.TaskReport {
	t.Helper()
	local := api.NewLocal(d.Config().Socket)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := local.Status(ctx)
		if err == nil {
			for _, tr := range st.Tasks {
				if strings.HasPrefix(tr.ID, dist+"/") && ok(tr) {
					return tr
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task of %s on %s: condition not met (last status %+v, err %v)", dist, d.Config().Name, st, err)
		case <-tick.C:
		}
	}
}

// verifyCopies checks every client's finished file against the source's sha256.
func verifyCopies(ctx context.Context, t *testing.T, f *fleet, clients []string, sum string) {
	t.Helper()
	for _, c := range clients {
		got, err := content.SHA256File(ctx, filepath.Join(f.dir, c, "files", "src.img"))
		if err != nil || got != sum {
			t.Errorf("%s copy sha256 %s (%v), want %s", c, got, err, sum)
		}
	}
}

func startClients(f *fleet, n int, opts ...func(*daemon.Config)) []string {
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("client-%d", i)
		f.start(name, []api.Role{api.RoleClient}, nil, opts...)
		names = append(names, name)
	}
	return names
}

// The first bytes reach a client while the relay is still pulling a slow origin.
func TestRelayServesWhilePulling(t *testing.T) {
	const size = 24 << 20
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 8<<20) // 3 s for the whole file
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	clients := startClients(f, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 4)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	taskOf(ctx, t, f.daemons["client-1"], d.ID, func(tr api.TaskReport) bool { return tr.Have > 0 })
	// Order of events: the client holds bytes while the origin has sent less than half the file.
	if served := org.Stats().BytesServed; served >= size/2 {
		t.Errorf("client's first bytes came after the origin sent %d of %d bytes", served, size)
	}
	relay := taskOf(ctx, t, f.daemons["relay-1"], d.ID, func(api.TaskReport) bool { return true })
	if relay.State == api.TaskSeeding || relay.Have == size {
		t.Errorf("relay already complete when the client got its first bytes: %+v", relay)
	}
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
	if served := org.Stats().BytesServed; served > size*11/10 {
		t.Errorf("origin served %d bytes, more than 1.1× the file", served)
	}
	// What the relay streamed to clients over HTTP counts as its upload, as BitTorrent does.
	// (The relay reports once a second: wait for its report to catch up with the clients'.)
	waitAssignment(ctx, t, f, d.ID, "relay-1", func(a api.Assignment) bool { return a.BytesUp >= end.BytesHTTPRelay && a.BytesUp > 0 })
}

// A relay stopped half-way resumes from what it verified: the origin sends the file about once.
func TestRelayResumesAfterRestart(t *testing.T) {
	t.Parallel()
	// Chunks in flight when the relay stops are lost: at most 4 MiB, well under 10 % of 64 MiB.
	const size = 64 << 20
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 24<<20)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	clients := startClients(f, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	taskOf(ctx, t, f.daemons["relay-1"], d.ID, func(tr api.TaskReport) bool { return tr.Have >= size/2 })
	f.daemons["relay-1"].Close()
	f.cancel["relay-1"]()
	if served := org.Stats().BytesServed; served >= size {
		t.Fatalf("relay was stopped only after the origin sent %d of %d bytes", served, size)
	}
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)

	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
	served := org.Stats().BytesServed
	if served > size*11/10 {
		t.Errorf("origin served %d bytes (%.2f× the file), want below 1.1×", served, float64(served)/size)
	}
	t.Logf("origin served %.3f× the file across the restart", float64(served)/size)
}

// A second relay takes the file from the first, not from the origin.
func TestTwoRelaysOneOrigin(t *testing.T) {
	t.Parallel()
	const size = 24 << 20
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 16<<20)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	f.start("relay-2", []api.Role{api.RoleRelay}, nil)
	clients := startClients(f, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 5)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"client-1", "client-2"}, Relays: 2})
	if err != nil {
		t.Fatal(err)
	}
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
	relays := 0
	for _, a := range end.Assignments {
		if a.Role == api.RoleRelay {
			relays++
		}
	}
	if relays != 2 {
		t.Fatalf("%d relays assigned, want 2", relays)
	}
	// Both relays hold the whole file.
	for _, r := range []string{"relay-1", "relay-2"} {
		taskOf(ctx, t, f.daemons[r], d.ID, func(tr api.TaskReport) bool { return tr.Have == size })
		if _, err := os.Stat(filepath.Join(f.dir, r, "relay", d.ID, "src.img")); err != nil {
			t.Errorf("%s has no copy: %v", r, err)
		}
	}
	served := org.Stats().BytesServed
	if served > size*11/10 {
		t.Errorf("origin served %d bytes (%.2f× the file), want below 1.1×", served, float64(served)/size)
	}
	t.Logf("origin served %.3f× the file to two relays", float64(served)/size)
}

// With the metainfo known from the push, the relay announces each piece as it lands: clients get
// pieces over BitTorrent while the relay is still pulling.
func TestRelaySeedsWhilePulling(t *testing.T) {
	t.Parallel()
	const size = 24 << 20
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 8<<20) // 3 s for the whole file
	src, err := os.Open(filepath.Join(f.dir, "src.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	pieceLen := content.PieceLength(size)
	pieces, err := content.HashPieces(context.Background(), src, size, pieceLen, 0)
	if err != nil {
		t.Fatal(err)
	}
	mi, _, err := content.Build("src.img", size, pieceLen, pieces)
	if err != nil {
		t.Fatal(err)
	}
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	clients := startClients(f, 1, noExchange) // BitTorrent from the relay is what is tested
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), Metainfo: mi, To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	taskOf(ctx, t, f.daemons["client-1"], d.ID, func(tr api.TaskReport) bool { return tr.BytesBT > 0 })
	relay := taskOf(ctx, t, f.daemons["relay-1"], d.ID, func(api.TaskReport) bool { return true })
	if relay.Have == size {
		t.Errorf("relay held the whole file before the client got a piece over BitTorrent: %+v", relay)
	}
	if served := org.Stats().BytesServed; served >= size {
		t.Errorf("client's first BitTorrent piece came after the origin sent the whole file (%d bytes)", served)
	}
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
}

// The push's start threshold reaches the relay: a lone client's first bytes wait until the relay
// holds that share of the file.
func TestRelayStartThreshold(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	f := newFleet(t)
	org, sum := slowOrigin(t, f, size, 16<<20)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	clients := startClients(f, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)

	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
		// Half the file, beyond the CLI's range, so that four pulled chunks cannot pass for it.
		Source: org.URL(), To: []string{"all"}, Settings: &api.Settings{StartThreshold: 0.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	taskOf(ctx, t, f.daemons["client-1"], d.ID, func(tr api.TaskReport) bool { return tr.Have > 0 })
	if served := org.Stats().BytesServed; served < size/2 {
		t.Errorf("client got bytes when the origin had sent only %d bytes, below the 50 %% threshold", served)
	}
	if end := f.waitEnded(ctx, d.ID); end.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
}
