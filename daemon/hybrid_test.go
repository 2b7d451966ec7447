package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/hybrid"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// Loopback swarms where BitTorrent is blocked or slow on some clients. The policy's windows are
// shortened here (the specification's ranges bind operators, not in-process tests) so a whole
// distribution takes seconds.

// fastHybrid is a policy tuned for tests: sample every 250 ms over a 2 s window.
func fastHybrid(c *daemon.Config) {
	c.Hybrid = api.Settings{SampleMs: 250, WindowMs: 2000, CooldownMs: 2000, BTGraceMs: 2000}
}

func btBlocked(c *daemon.Config) { c.BTBlocked = true }

// noExchange keeps a client on BitTorrent and the assist while the relay pulls: the tests of the
// hybrid policy need BitTorrent to be what carries.
func noExchange(c *daemon.Config) { c.NoExchange = true }

// hybridSource writes a file, serves it from an instrumented origin and answers the push of it to
// every host, with its metainfo (so BitTorrent works from the first second), and its sha256.
func hybridSource(t *testing.T, f *fleet, size int64, seed uint64) (push api.CreateDistribution, sum string) {
	t.Helper()
	src := filepath.Join(f.dir, "src.img")
	sum, err := origin.Generate(src, size, seed)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	pieceLen := content.PieceLength(size)
	pieces, err := content.HashPieces(context.Background(), file, size, pieceLen, 2)
	if err != nil {
		t.Fatal(err)
	}
	mi, _, err := content.Build("src.img", size, pieceLen, pieces)
	if err != nil {
		t.Fatal(err)
	}
	org, err := origin.Start(origin.Options{File: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	return api.CreateDistribution{Source: org.URL(), Metainfo: mi, To: []string{"all"}}, sum
}

// checkCopy verifies the finished file of a client against the source's sha256.
func checkCopy(ctx context.Context, t *testing.T, f *fleet, host, sum string) {
	t.Helper()
	got, err := content.SHA256File(ctx, filepath.Join(f.dir, host, "files", "src.img"))
	if err != nil || got != sum {
		t.Errorf("%s copy sha256 %s (%v), want %s", host, got, err, sum)
	}
}

func assignmentsByHost(d api.Distribution) map[string]api.Assignment {
	out := map[string]api.Assignment{}
	for _, a := range d.Assignments {
		if a.Role == api.RoleClient {
			out[a.Host] = a
		}
	}
	return out
}

// modeEvents lists the controller's mode events of a distribution.
func modeEvents(ctx context.Context, t *testing.T, f *fleet, distID string) []string {
	t.Helper()
	var evs []struct {
		Host string `json:"host"`
		Kind string `json:"kind"`
		Msg  string `json:"msg"`
	}
	if err := f.admin.Do(ctx, "GET", "/v1/events?limit=1000&dist="+distID, nil, &evs); err != nil {
		t.Fatalf("events: %v", err)
	}
	var out []string
	for _, e := range evs {
		if e.Kind == "mode" {
			out = append(out, e.Host+": "+e.Msg)
		}
	}
	return out
}

func TestHybridBTBlocked(t *testing.T) {
	t.Parallel()
	const size = 16 << 20
	f := newFleet(t)
	push, sum := hybridSource(t, f, size, 11)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	normal := []string{"client-1", "client-2", "client-3"}
	blocked := []string{"blocked-1", "blocked-2"}
	for _, n := range normal {
		f.start(n, []api.Role{api.RoleClient}, nil, fastHybrid, noExchange)
	}
	for _, n := range blocked {
		f.start(n, []api.Role{api.RoleClient}, nil, fastHybrid, btBlocked, noExchange)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 2+len(normal)+len(blocked))
	d, err := f.admin.CreateDistribution(ctx, push)
	if err != nil {
		t.Fatal(err)
	}
	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete {
		t.Fatalf("state %s, want complete: %+v", d.State, d.Assignments)
	}
	as := assignmentsByHost(d)
	for _, n := range blocked {
		checkCopy(ctx, t, f, n, sum)
		a := as[n]
		if a.BytesBT != 0 || a.BytesHTTPRelay+a.BytesHTTPOrigin != size {
			t.Errorf("%s got %d bytes over bt and %d+%d over http (relays+origin), want 0 and exactly %d (every piece once, verified)",
				n, a.BytesBT, a.BytesHTTPRelay, a.BytesHTTPOrigin, size)
		}
		if a.BytesHTTPRelay < size/2 {
			t.Errorf("%s got %d of its bytes from relays and %d from the origin, want relays first", n, a.BytesHTTPRelay, a.BytesHTTPOrigin)
		}
		if a.Mode != hybrid.ModeHTTPMain || !strings.Contains(a.ModeReason, "no bt peer") {
			t.Errorf("%s mode %q (%q), want http-main because no bt peer came", n, a.Mode, a.ModeReason)
		}
	}
	for _, n := range normal {
		checkCopy(ctx, t, f, n, sum)
		a := as[n]
		if a.BytesBT < size*9/10 {
			t.Errorf("%s got %d bytes over bt (%d over http), want mostly bt", n, a.BytesBT, a.BytesHTTPRelay)
		}
	}
	evs := modeEvents(ctx, t, f, d.ID)
	for _, n := range blocked {
		want := n + ": mode bt → http-main: no bt peer for"
		if !containsPrefix(evs, want) {
			t.Errorf("no event %q among %q", want, evs)
		}
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestHybridBTThrottled(t *testing.T) {
	const (
		size = 8 << 20   // 16 s over BitTorrent alone: room for assist to act after its two-window ramp
		slow = 512 << 10 // bytes/s of BitTorrent on the throttled clients, below their 1 MiB/s threshold
	)
	f := newFleet(t)
	push, sum := hybridSource(t, f, size, 12)
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	tuned := func(c *daemon.Config) {
		fastHybrid(c)
		c.Hybrid.Threshold = hybrid.MaxThreshold // ×0.5 for a small file, ×2 on a lan: 1 MiB/s
		c.Hybrid.HTTPShare = hybrid.MaxHTTPShareCap
	}
	throttle := func(c *daemon.Config) { c.BTDownloadRate = slow }
	noAssist := func(c *daemon.Config) { c.Hybrid.NoAssist = true }
	lan := map[string]string{daemon.NetworkLabel: hybrid.NetworkLAN}
	normal := []string{"client-1", "client-2", "client-3"}
	assisted := []string{"slow-1", "slow-2"}
	alone := []string{"slow-bt-only-1", "slow-bt-only-2"}
	for _, n := range normal {
		f.start(n, []api.Role{api.RoleClient}, lan, tuned, noExchange)
	}
	for _, n := range assisted {
		f.start(n, []api.Role{api.RoleClient}, lan, tuned, throttle, noExchange)
	}
	for _, n := range alone {
		f.start(n, []api.Role{api.RoleClient}, lan, tuned, throttle, noAssist, noExchange)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 2+len(normal)+len(assisted)+len(alone))
	d, err := f.admin.CreateDistribution(ctx, push)
	if err != nil {
		t.Fatal(err)
	}
	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete {
		t.Fatalf("state %s, want complete: %+v", d.State, d.Assignments)
	}
	as := assignmentsByHost(d)
	for n := range as {
		checkCopy(ctx, t, f, n, sum)
	}

	// Assist starts within two windows of the start of the download.
	window := 2 * time.Second
	for _, n := range assisted {
		changes := f.daemons[n].ModeChanges(d.ID)
		if len(changes) < 2 || changes[0].To != hybrid.ModeBT || changes[1].To != hybrid.ModeAssist {
			t.Fatalf("%s mode changes %+v, want bt then assisting", n, changes)
		}
		if lag := time.Duration(changes[1].AtMs-changes[0].AtMs) * time.Millisecond; lag > 2*window {
			t.Errorf("%s started assisting %s after the download began, want within two windows (%s)", n, lag, 2*window)
		}
		if a := as[n]; a.BytesHTTPRelay == 0 {
			t.Errorf("%s got no byte over http", n)
		}
	}
	for _, n := range alone {
		if a := as[n]; a.BytesHTTPRelay+a.BytesHTTPOrigin != 0 {
			t.Errorf("%s has assist disabled but got %d bytes over http", n, a.BytesHTTPRelay+a.BytesHTTPOrigin)
		}
	}

	// Faster than BitTorrent alone at the same throttle, in the same run.
	took := func(hosts []string) time.Duration {
		var sum time.Duration
		for _, n := range hosts {
			a := as[n]
			sum += a.DoneAt.Sub(d.CreatedAt)
		}
		return sum / time.Duration(len(hosts))
	}
	withAssist, without := took(assisted), took(alone)
	ratio := withAssist.Seconds() / without.Seconds()
	t.Logf("throttled clients finished in %s with assist, %s without: ratio %.2f", withAssist, without, ratio)
	// HTTP may carry at most as much as BitTorrent (share cap 0.5) once assisting, so the gain is
	// bounded; a ratio near 1 means assist did nothing.
	if ratio > 0.95 {
		t.Errorf("assisted clients took %.2f× the time of bt-only ones, want clearly less", ratio)
	}

	// The unthrottled clients stay on BitTorrent.
	var httpBytes, total int64
	for _, n := range normal {
		a := as[n]
		httpBytes += a.BytesHTTPRelay + a.BytesHTTPOrigin
		total += a.BytesHTTPRelay + a.BytesHTTPOrigin + a.BytesBT
	}
	if share := float64(httpBytes) / float64(total); share >= 0.10 {
		t.Errorf("unthrottled clients got %.1f%% of their bytes over http, want under 10%%", share*100)
	}
	t.Logf("mode events: %q", modeEvents(ctx, t, f, d.ID))
}

func TestHybridCorruptRelay(t *testing.T) {
	t.Parallel()
	const size = 8 << 20
	f := newFleet(t)
	push, sum := hybridSource(t, f, size, 13)
	relay := f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	f.start("blocked-1", []api.Role{api.RoleClient}, nil, fastHybrid, btBlocked, noExchange)

	// A second relay whose HTTP answers are the real relay's with one byte flipped. It fetches
	// them with its own certificate: it is a relay of the distribution, so the real relay serves it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := f.hostIdentity(ctx, "relay-bad")
	bad := newCorruptRelay(t, relay.HTTPURL(), id.PeerConfig())
	hostAPI := f.hostClient(ctx, "relay-bad")
	if err := hostAPI.Register(ctx, api.Host{Name: "relay-bad", Roles: []api.Role{api.RoleRelay}, HTTPURL: bad.URL, BTAddr: "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	go func() { // keep the fake relay online: it has no agent of its own
		for sleepOrDone(ctx, time.Second) {
			_ = hostAPI.Report(ctx, api.Report{Host: "relay-bad"})
		}
	}()
	f.waitHosts(ctx, 4)
	push.To, push.Relays = []string{"blocked-1"}, 2
	d, err := f.admin.CreateDistribution(ctx, push)
	if err != nil {
		t.Fatal(err)
	}
	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete {
		t.Fatalf("state %s, want complete: %+v", d.State, d.Assignments)
	}
	checkCopy(ctx, t, f, "blocked-1", sum)
	if n := bad.served.Load(); n == 0 {
		t.Fatalf("the corrupt relay was never asked: the test proves nothing")
	}
	a := assignmentsByHost(d)["blocked-1"]
	if a.BytesHTTPRelay+a.BytesHTTPOrigin != size || a.BytesBT != 0 {
		t.Errorf("client counted %d+%d bytes over http (relays+origin) and %d over bt, want exactly %d verified http bytes",
			a.BytesHTTPRelay, a.BytesHTTPOrigin, a.BytesBT, size)
	}
	t.Logf("corrupt relay answered %d ranges, all discarded", bad.served.Load())
	if n := bad.served.Load(); n < 3 {
		t.Logf("only %d spoiled answers: not every kind of bad answer was tried", n)
		return
	}
	// Every kind was tried, the flipped byte among them: the discard shows in the metrics.
	body := scrape(t, f.daemons["blocked-1"].HTTPURL()+"/metrics")
	if !regexp.MustCompile(`(?m)^dist_task_pieces_failed_total\{[^}]*\} [1-9]`).MatchString(body) {
		t.Errorf("metrics do not count the discarded piece:\n%s", body)
	}
}
