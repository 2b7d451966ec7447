package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// realFleet is whole daemons on loopback: a controller and the hosts a test starts.
type realFleet struct {
	t       *testing.T
	dir     string
	ctrl    *daemon.Daemon
	admin   *api.Client
	daemons map[string]*daemon.Daemon
	stops   map[string]context.CancelFunc
}

const realHostToken = "host-s3cret"

func newRealFleet(t *testing.T) *realFleet {
	t.Helper()
	f := &realFleet{t: t, dir: t.TempDir(), daemons: map[string]*daemon.Daemon{}, stops: map[string]context.CancelFunc{}}
	f.ctrl = f.start("controller", api.RoleController)
	f.admin = api.New(f.ctrl.HTTPURL(), testToken)
	f.admin.HTTP = &http.Client{Transport: api.NewTransport(&http.Transport{TLSClientConfig: f.ctrl.ClientTLS()})}
	t.Cleanup(func() {
		for name := range f.daemons {
			if name != "controller" {
				f.stop(name)
			}
		}
		f.stop("controller")
	})
	return f
}

func (f *realFleet) start(name string, roles ...api.Role) *daemon.Daemon {
	f.t.Helper()
	sock, err := os.CreateTemp("", "dist-*.sock") // socket paths must stay short
	if err != nil {
		f.t.Fatal(err)
	}
	sock.Close()
	os.Remove(sock.Name())
	cfg := daemon.Config{
		Roles: roles, Name: name, Listen: "127.0.0.1:0", BTListen: "127.0.0.1:0",
		Data: filepath.Join(f.dir, name), Socket: sock.Name(),
		Token: realHostToken, AdminToken: testToken, HostToken: realHostToken,
		Logger: slog.New(slog.DiscardHandler),
	}
	if f.ctrl != nil {
		// Hosts join as in production: the host token is a join secret traded for a certificate.
		cfg.Controller, cfg.JoinToken, cfg.CAFile = f.ctrl.HTTPURL(), realHostToken, f.ctrl.CAFile()
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Start(ctx, cfg)
	if err != nil {
		cancel()
		f.t.Fatalf("start %s: %v", name, err)
	}
	f.daemons[name], f.stops[name] = d, cancel
	return d
}

// stop ends a daemon cleanly, as its service manager would.
func (f *realFleet) stop(name string) {
	if d, ok := f.daemons[name]; ok {
		d.Close()
		f.stops[name]()
		delete(f.daemons, name)
		delete(f.stops, name)
	}
}

// cli runs dist against the fleet's controller with the admin token.
func (f *realFleet) cli(args ...string) result {
	f.t.Helper()
	return runCLI(f.t, append(args, "--controller", f.ctrl.HTTPURL(), "--token", testToken, "--ca-file", f.ctrl.CAFile())...)
}

// waitFor polls the controller until ok holds (bounded by ctx).
func (f *realFleet) waitFor(ctx context.Context, what string, ok func() bool) {
	f.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			f.t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func (f *realFleet) online(ctx context.Context) map[string]bool {
	hs, err := f.admin.Hosts(ctx)
	if err != nil {
		return nil
	}
	m := map[string]bool{}
	for _, h := range hs {
		m[h.Name] = h.Online
	}
	return m
}

// A daemon stopped cleanly says goodbye: dist hosts shows it offline at once, not after the
// controller's online window (30 s).
func TestHostsOfflineAtOnceAfterGoodbye(t *testing.T) {
	isolate(t)
	f := newRealFleet(t)
	f.start("client-1", api.RoleClient)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.waitFor(ctx, "client-1 online", func() bool { return f.online(ctx)["client-1"] })
	stopped := time.Now()
	f.stop("client-1")
	r := f.cli("hosts", "--json")
	var hs []api.Host
	if r.code != ExitOK || json.Unmarshal([]byte(r.stdout), &hs) != nil {
		t.Fatalf("hosts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, h := range hs {
		if h.Name == "client-1" && h.Online {
			t.Fatalf("client-1 still online %s after a clean stop: %+v", time.Since(stopped), h)
		}
	}
	t.Logf("offline %s after the stop began (the online window is 30s)", time.Since(stopped).Round(time.Millisecond))
	if r := f.cli("hosts"); !strings.Contains(r.stdout, "client-1") || !strings.Contains(r.stdout, " no ") {
		t.Errorf("dist hosts does not show client-1 offline:\n%s", r.stdout)
	}
}

// A push held back by its origin's spent byte budget says so in dist show, for the relay and for
// the client that waits on it; once cancelled, no host shows "downloading" and ls shows what was
// delivered, not a byte share.
func TestShowSaysWhyAPushStalls(t *testing.T) {
	isolate(t)
	f := newRealFleet(t)
	src := filepath.Join(f.dir, "big.img")
	if _, err := origin.Generate(src, 16<<20, 7); err != nil {
		t.Fatal(err)
	}
	// Slow enough that the push is still under way when the budget is raised and it is cancelled.
	org, err := origin.Start(origin.Options{File: src, Rate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	f.start("relay-1", api.RoleRelay)
	f.start("client-1", api.RoleClient)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitFor(ctx, "hosts online", func() bool { m := f.online(ctx); return m["relay-1"] && m["client-1"] })

	if r := f.cli("origin", "set", org.URL(), "--max-bytes", "2MiB"); r.code != ExitOK {
		t.Fatalf("origin set: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"client-1"}})
	if err != nil {
		t.Fatal(err)
	}
	var last api.Distribution
	pushed := time.Now()
	f.waitFor(ctx, "relay and client to say why they stall", func() bool {
		last, err = f.admin.Distribution(ctx, d.ID)
		relay, client := false, false
		for _, a := range last.Assignments {
			relay = relay || a.Role == api.RoleRelay && strings.Contains(a.Error, "waiting for origin quota")
			client = client || a.Role == api.RoleClient && a.Error != ""
		}
		return err == nil && relay && client
	})
	r := f.cli("show", d.ID)
	if r.code != ExitOK {
		t.Fatalf("show: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("reasons reached the controller %s after the push; dist show of the stalled push:\n%s",
		time.Since(pushed).Round(100*time.Millisecond), r.stdout)
	for _, want := range []string{"REASON", "waiting for origin quota", "Waiting", "waiting for relay relay-1: waiting for origin quota"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s\nassignments: %+v", want, r.stdout, last.Assignments)
		}
	}

	// The budget raised, the relay moves again and its reason clears.
	if r := f.cli("origin", "set", org.URL(), "--max-bytes", "0"); r.code != ExitOK {
		t.Fatalf("origin set: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	f.waitFor(ctx, "the relay to move again without a reason", func() bool {
		last, err = f.admin.Distribution(ctx, d.ID)
		for _, a := range last.Assignments {
			if a.Role == api.RoleRelay {
				return err == nil && a.Have > 2<<20 && a.Error == ""
			}
		}
		return false
	})
	if r := f.cli("show", d.ID); strings.Contains(r.stdout, "waiting for origin quota") {
		t.Errorf("show still says the relay waits for origin quota after it moved on:\n%s", r.stdout)
	}

	if r := f.cli("cancel", d.ID); r.code != ExitOK {
		t.Fatalf("cancel: exit %d\n%s", r.code, r.stderr)
	}
	r = f.cli("show", d.ID)
	states := hostStates(r.stdout)
	if len(states) != 2 || states["relay-1"] != "cancelled" || states["client-1"] != "cancelled" || strings.Contains(r.stdout, "Waiting") {
		t.Errorf("show after cancel: states %v, want every host cancelled and no Waiting line:\n%s", states, r.stdout)
	}
	if r := f.cli("ls"); !strings.Contains(r.stdout, "0.0% delivered") {
		t.Errorf("ls of a cancelled push: want 0.0%% delivered\n%s", r.stdout)
	}
}

// hostStates reads the STATE column of dist show's host table.
func hostStates(out string) map[string]string {
	m := map[string]string{}
	_, table, ok := strings.Cut(out, "\nHOST ")
	if !ok {
		return m
	}
	for _, line := range strings.Split(table, "\n")[1:] {
		if fs := strings.Fields(line); len(fs) >= 3 {
			m[fs[0]] = fs[2]
		}
	}
	return m
}

// A push whose origin answers 404 fails: dist ls says failed rather than a byte share, dist show
// shows no host still moving, and no host keeps partial data of it.
func TestFailedPushInLsAndShow(t *testing.T) {
	isolate(t)
	f := newRealFleet(t)
	src := filepath.Join(f.dir, "gone.img")
	if _, err := origin.Generate(src, 4<<20, 9); err != nil {
		t.Fatal(err)
	}
	org, err := origin.Start(origin.Options{File: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { org.Close() })
	f.start("relay-1", api.RoleRelay)
	f.start("client-1", api.RoleClient)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitFor(ctx, "hosts online", func() bool { m := f.online(ctx); return m["relay-1"] && m["client-1"] })
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{Source: org.URL(), To: []string{"client-1"}})
	if err != nil {
		t.Fatal(err)
	}
	org.Fail(origin.Fault{Status: 404})
	f.waitFor(ctx, "the push to fail", func() bool {
		d, err = f.admin.Distribution(ctx, d.ID)
		return err == nil && d.State == api.DistFailed
	})
	r := f.cli("ls")
	if !strings.Contains(r.stdout, d.ID) || strings.Contains(r.stdout, "%") || !strings.Contains(r.stdout, "failed") {
		t.Errorf("ls of a failed push: want failed and no share\n%s", r.stdout)
	}
	r = f.cli("show", d.ID)
	for host, st := range hostStates(r.stdout) {
		if st != "failed" && st != "cancelled" {
			t.Errorf("show: %s is %s in a failed distribution\n%s", host, st, r.stdout)
		}
	}
	for _, dir := range []string{filepath.Join(f.dir, "client-1", "tasks", d.ID), filepath.Join(f.dir, "relay-1", "relay", d.ID)} {
		f.waitFor(ctx, "no partial data in "+dir, func() bool { _, err := os.Stat(dir); return os.IsNotExist(err) })
	}
}

func TestProgressText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    api.Distribution
		want string
	}{
		{api.Distribution{State: api.DistActive, Size: 100, Targets: 2, Have: 50}, "25.0%"},
		{api.Distribution{State: api.DistFailed, Size: 100, Targets: 2, Have: 200, Failed: 2}, "failed"},
		{api.Distribution{State: api.DistPartial, Size: 100, Targets: 4, Have: 400, Done: 1, Failed: 3}, "25.0% delivered"},
		{api.Distribution{State: api.DistCancelled, Size: 100, Targets: 2, Have: 150, Done: 1}, "50.0% delivered"},
		{api.Distribution{State: api.DistComplete, Size: 100, Targets: 2, Have: 200, Done: 2}, "100.0%"},
	}
	for _, tc := range tests {
		if got := progressText(tc.d); got != tc.want {
			t.Errorf("progressText(%s, have %d, %d/%d done) = %q, want %q", tc.d.State, tc.d.Have, tc.d.Done, tc.d.Targets, got, tc.want)
		}
	}
}

func TestAssignmentReason(t *testing.T) {
	t.Parallel()
	active := api.Distribution{State: api.DistActive, InfoHash: "ab"}
	tests := []struct {
		name string
		d    api.Distribution
		a    api.Assignment
		want string
	}{
		{"failure", active, api.Assignment{Role: api.RoleClient, State: api.TaskFailed, Error: "origin answered 404"}, "origin answered 404"},
		{"stall", active, api.Assignment{Role: api.RoleClient, State: api.TaskWaiting, Error: "no peers: nobody holds pieces to fetch yet"},
			"no peers: nobody holds pieces to fetch yet"},
		{"assisting because", active, api.Assignment{Role: api.RoleClient, State: api.TaskDownloading, Mode: "assisting",
			ModeReason: "bt 120 KiB/s below 500 KiB/s for 3 samples"}, "bt 120 KiB/s below 500 KiB/s for 3 samples"},
		{"bt moving: nothing to say", active, api.Assignment{Role: api.RoleClient, State: api.TaskDownloading, Mode: "bt", ModeReason: "bt fast"}, ""},
		{"done keeps quiet", active, api.Assignment{Role: api.RoleClient, State: api.TaskDone, Mode: "http-main", ModeReason: "no bt peer"}, ""},
		{"cancelled under it", api.Distribution{State: api.DistCancelled}, api.Assignment{Role: api.RoleRelay, State: api.TaskDownloading},
			"stopped: the distribution was cancelled"},
	}
	for _, tc := range tests {
		if got := assignmentReason(tc.d, tc.a); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
