package daemon_test

import (
	"context"
	"crypto/sha1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/swarm"
	"dist/daemon"
	"dist/daemon/demo/origin"
	"dist/daemon/relay"
)

// Faults end, and never in a wrong file: each test drives one fault through real daemons on
// loopback and asserts how the distribution ends, what the origin saw, and that no finished file
// differs from the origin's.

// relayFleet starts a fleet with one relay and n clients and waits for them to register.
func relayFleet(ctx context.Context, t *testing.T, n int) (*fleet, []string) {
	t.Helper()
	f := newFleet(t)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	clients := startClients(f, n)
	f.waitHosts(ctx, n+2)
	return f, clients
}

// startOrigin serves a generated file of size bytes (seed picks its content) and answers the
// origin and the file's sha256.
func startOrigin(t *testing.T, f *fleet, size int64, seed uint64, opts origin.Options) (*origin.Origin, string) {
	t.Helper()
	src := filepath.Join(f.dir, "src.img")
	sum, err := origin.Generate(src, size, seed)
	if err != nil {
		t.Fatal(err)
	}
	opts.File = src
	org, err := origin.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	return org, sum
}

// pushURL starts an origin for a generated file of size bytes and pushes it to every client.
func pushURL(ctx context.Context, t *testing.T, f *fleet, size int64, opts origin.Options) (*origin.Origin, api.Distribution, string) {
	t.Helper()
	org, sum := startOrigin(t, f, size, 41, opts)
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	return org, d, sum
}

// noFinishedFile fails when any client holds a finished copy of the distribution.
func noFinishedFile(t *testing.T, f *fleet, clients []string) {
	t.Helper()
	for _, c := range clients {
		if _, err := os.Stat(filepath.Join(f.dir, c, "files", "src.img")); !os.IsNotExist(err) {
			t.Errorf("%s finished a copy (%v): no host may finish a file the origin changed under it", c, err)
		}
	}
}

func failedWith(t *testing.T, d api.Distribution, want string) {
	t.Helper()
	if d.State != api.DistFailed {
		t.Fatalf("state %s, want failed: %+v", d.State, d.Assignments)
	}
	for _, a := range d.Assignments {
		if a.Role == api.RoleClient && !strings.Contains(a.Error, want) {
			t.Errorf("%s ended %s with %q, want the reason %q", a.Host, a.State, a.Error, want)
		}
	}
}

// Item 1: the origin replaces the file (same size, new ETag and Last-Modified) in the middle of
// the relay's pull. The relay pinned the first version, so it stops at the change, the
// distribution fails with the reason, and no host finishes a mixed file.
func TestOriginChangesDuringPull(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f, clients := relayFleet(ctx, t, 2)
	v2 := filepath.Join(f.dir, "v2.img")
	if _, err := origin.Generate(v2, size, 42); err != nil {
		t.Fatal(err)
	}
	org, d, _ := pushURL(ctx, t, f, size, origin.Options{Rate: 4 << 20})
	// A few ranges of the first version, then the second one.
	if err := org.ReplaceAfter(4, v2); err != nil {
		t.Fatal(err)
	}
	end := f.waitEnded(ctx, d.ID)
	failedWith(t, end, "origin file changed during the pull")
	noFinishedFile(t, f, clients)
	// The failed tasks leave no partial data behind: the relay's pull and the clients' streams.
	for _, dir := range []string{filepath.Join(f.dir, "relay-1", "relay", d.ID), filepath.Join(f.dir, clients[0], "tasks", d.ID)} {
		waitGone(ctx, t, dir)
	}
	if served := org.Stats().BytesServed; served > size {
		t.Errorf("origin served %d bytes for a %d-byte file: the relay went on after the change", served, size)
	}
}

// Item 4: an origin that answers 404 after the push fails the distribution at once with its
// answer; the relay does not retry (no request storm at the origin).
func TestOriginGoneFailsAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, clients := relayFleet(ctx, t, 1)
	org, _ := startOrigin(t, f, 4<<20, 43, origin.Options{})
	// The push's own probe succeeds; the relay's first request meets the 404.
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	org.Fail(origin.Fault{Status: 404})
	start := time.Now()
	end := f.waitEnded(ctx, d.ID)
	failedWith(t, end, "404")
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("distribution failed %s after the 404: not at once", took.Round(time.Second))
	}
	// One probe, or — when the relay's probe came before the fault — one first range per pull
	// worker; never a retry.
	if n := org.StatusCounts()[404]; n == 0 || n > 1+relay.DefaultWorkers {
		t.Errorf("origin answered 404 to %d requests, want 1 to %d (no retry storm): %+v", n, 1+relay.DefaultWorkers, org.Log())
	}
	noFinishedFile(t, f, clients)
}

// Item 4: 503 with Retry-After is a passing fault: the relay waits as told and the distribution
// completes, with no more requests at the origin than the faults it answered plus the pull's own.
func TestOriginUnavailableIsWaitedOut(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, clients := relayFleet(ctx, t, 1)
	org, d, sum := pushURL(ctx, t, f, size, origin.Options{})
	org.Fail(origin.Fault{Status: 503, RetryAfter: "1", Count: 2})
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, clients, sum)
	if n := org.StatusCounts()[503]; n != 2 {
		t.Errorf("origin answered 503 %d times, want exactly the 2 faults", n)
	}
}

// Item 2: a piece of a client's partial file rots after it was verified. Every distribution
// carries a whole-file SHA-256 by default (the relay computes it while it pulls), the client
// checks it before the move, finds the bad piece, fetches it again, and ends with the right file.
func TestBitRotInPartialFileIsRepaired(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	f := newFleet(t)
	siteA := map[string]string{"site": "a"}
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, siteA)
	f.start("rotten", []api.Role{api.RoleClient}, siteA)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	f.waitHosts(ctx, 4)
	f.stop("rotten") // registered, then away while the others download
	org, sum := startOrigin(t, f, size, 44, origin.Options{})
	src := filepath.Join(f.dir, "src.img")
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"site=a"}})
	if err != nil {
		t.Fatal(err)
	}
	taskOf(ctx, t, f.daemons["client-1"], d.ID, func(tr api.TaskReport) bool { return tr.State == api.TaskDone })
	full, err := f.admin.Distribution(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	m, err := content.Parse(full.Metainfo)
	if err != nil {
		t.Fatal(err)
	}
	if m.SHA256 != sum {
		t.Fatalf("metainfo carries sha256 %q, want the file's %s: the end-to-end check needs it by default", m.SHA256, sum)
	}

	// The away host's partial file: every piece verified and recorded, then one byte rots.
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.dir, "rotten", "tasks", d.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec, err := swarm.OpenRecord(testLogger(t), filepath.Join(dir, "data.pieces"), m.NumPieces, [20]byte{}, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.NumPieces {
		off, n := m.PieceRange(i)
		h := sha1.Sum(data[off : off+n])
		rec.MarkComplete(i, h[:])
	}
	if _, err := rec.Bind(m); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	const bad = 7
	off, _ := m.PieceRange(bad)
	data[off+123] ^= 0x40
	if err := os.WriteFile(filepath.Join(dir, "data.part"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	f.start("rotten", []api.Role{api.RoleClient}, siteA)
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state %s, want complete: %+v", end.State, end.Assignments)
	}
	verifyCopies(ctx, t, f, []string{"client-1", "rotten"}, sum)
	for _, a := range end.Assignments {
		if a.Host == "rotten" {
			if got := a.BytesBT + a.BytesHTTPRelay + a.BytesHTTPOrigin; got == 0 || got > 2*m.PieceLen {
				t.Errorf("rotten fetched %d bytes, want the bad piece only (%d)", got, m.PieceLen)
			}
		}
	}
}

// Item 6: a client whose disk fills stops, says so at once, and goes on by itself when space
// returns. The disk is a tmpfs too small for the file, grown while the task waits.
func TestFullDiskSaysSoAndResumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	if _, err := exec.LookPath("mount"); err != nil {
		t.Skip("needs mount(8)")
	}
	t.Parallel()
	const size = 16 << 20
	f := newFleet(t)
	disk := filepath.Join(t.TempDir(), "disk")
	if err := os.MkdirAll(disk, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", disk).Run() })
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, nil, func(c *daemon.Config) { c.Data = disk })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)
	_, d, sum := pushURL(ctx, t, f, size, origin.Options{})
	stuck := taskOf(ctx, t, f.daemons["client-1"], d.ID, func(tr api.TaskReport) bool {
		return strings.Contains(tr.Error, "no space left")
	})
	if stuck.State == api.TaskFailed || stuck.State == api.TaskDone {
		t.Fatalf("a full disk ended the task %s; it must wait for space: %+v", stuck.State, stuck)
	}
	// The reason is where the operator looks: the controller's view of the task.
	waitAssignment(ctx, t, f, d.ID, "client-1", func(a api.Assignment) bool { return strings.Contains(a.Error, "no space left") })
	if out, err := exec.Command("mount", "-o", "remount,size=64m", disk).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v: %s", err, out)
	}
	end := f.waitEnded(ctx, d.ID)
	if end.State != api.DistComplete {
		t.Fatalf("state %s after space returned, want complete: %+v", end.State, end.Assignments)
	}
	got, err := content.SHA256File(ctx, filepath.Join(disk, "files", "src.img"))
	if err != nil || got != sum {
		t.Fatalf("copy sha256 %s (%v), want %s", got, err, sum)
	}
}

// waitAssignment polls the controller until the assignment of host in dist satisfies ok.
func waitAssignment(ctx context.Context, t *testing.T, f *fleet, dist, host string, ok func(api.Assignment) bool) api.Assignment {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last api.Assignment
	for {
		if d, err := f.admin.Distribution(ctx, dist); err == nil {
			for _, a := range d.Assignments {
				if a.Host == host {
					last = a
					if ok(a) {
						return a
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("assignment of %s in %s: condition not met, last %+v", host, dist, last)
		case <-tick.C:
		}
	}
}

// A push naming a destination outside the host's roots fails on the host at once, with the reason
// where the operator looks, and nothing is fetched or created.
func TestBadDestinationFailsAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, clients := relayFleet(ctx, t, 1)
	org, _ := startOrigin(t, f, 4<<20, 45, origin.Options{})
	outside := filepath.Join(f.dir, "nonexistent", "x.img")
	start := time.Now()
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: clients, Dest: outside})
	if err != nil {
		t.Fatal(err)
	}
	a := waitAssignment(ctx, t, f, d.ID, clients[0], func(a api.Assignment) bool { return a.State == api.TaskFailed })
	took := time.Since(start)
	if !strings.Contains(a.Error, "outside this host's destination roots") {
		t.Errorf("reason %q, want it to say the destination is outside the roots", a.Error)
	}
	if took > 5*time.Second {
		t.Errorf("the bad destination failed %s after the push, want at once", took.Round(time.Millisecond))
	}
	t.Logf("bad destination failed %s after the push", took.Round(time.Millisecond))
	if a.Have != 0 || a.BytesHTTPRelay+a.BytesBT != 0 {
		t.Errorf("bytes were fetched for a refused destination: %+v", a)
	}
	if _, err := os.Stat(filepath.Dir(outside)); !os.IsNotExist(err) {
		t.Errorf("a directory was created outside the roots: %v", err)
	}
}

// waitGone waits until path no longer exists (bounded by ctx).
func waitGone(ctx context.Context, t *testing.T, path string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s is still there: a failed task left its partial data", path)
		case <-tick.C:
		}
	}
}
