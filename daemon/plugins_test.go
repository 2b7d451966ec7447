package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"dist/core/api"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// buildPartitionPlugin builds dist-plugin-partition into a new plugin directory.
func buildPartitionPlugin(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the partition plugin is Linux only")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "dist-plugin-partition"), "dist/plugins/cmd/dist-plugin-partition")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	return dir
}

// loopDevice attaches a loop device over file, or answers "" when this machine cannot.
func loopDevice(t testing.TB, file string) string {
	t.Helper()
	out, err := exec.Command("losetup", "-f", "--show", file).CombinedOutput()
	if err != nil {
		t.Logf("no loop device (losetup: %v: %s)", err, strings.TrimSpace(string(out)))
		return ""
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// sha256Prefix hashes the first n bytes of path (a file or a device).
func sha256Prefix(t testing.TB, path string, n int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, n)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func withPlugins(dir string) func(*daemon.Config) {
	return func(c *daemon.Config) {
		c.PluginDir = dir
		// Devices are written only where the host allows it; the tests' targets are files and
		// loop devices anywhere.
		c.DestRoots = []string{"partition://", filepath.Join(c.Data, "files")}
	}
}

// TestPartitionRoundTrip publishes a block device through the partition plugin, distributes it
// through a relay to two clients that write it into their own block devices, and compares. Where
// loop devices cannot be made, the "loop" case skips and the "file" case runs the same path over
// regular files behind the plugin.
func TestPartitionRoundTrip(t *testing.T) {
	t.Parallel()
	pdir := buildPartitionPlugin(t)
	for _, loop := range []bool{true, false} {
		name := map[bool]string{true: "loop", false: "file"}[loop]
		t.Run(name, func(t *testing.T) { partitionRoundTrip(t, pdir, loop) })
	}
}

func partitionRoundTrip(t *testing.T, pdir string, loop bool) {
	const size = 6<<20 + 3*4096 // loop devices come in 512-byte sectors
	f := newFleet(t)
	src := filepath.Join(f.dir, "src.img")
	sum, err := origin.Generate(src, size, 11)
	if err != nil {
		t.Fatal(err)
	}
	srcDev := src
	if loop {
		if srcDev = loopDevice(t, src); srcDev == "" {
			t.Skip("loop devices unavailable here (needs root and /dev/loop-control): the file case covers the same path")
		}
	}
	// Each client's target: a device (or file) of the same size, reached as targets/<host>.
	targets := filepath.Join(f.dir, "targets")
	if err := os.MkdirAll(targets, 0o755); err != nil {
		t.Fatal(err)
	}
	clients := []string{"client-1", "client-2"}
	for _, c := range clients {
		img := filepath.Join(f.dir, c+".img")
		if err := os.WriteFile(img, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		target := img
		if loop {
			if target = loopDevice(t, img); target == "" {
				t.Skip("loop devices unavailable here")
			}
		}
		if err := os.Symlink(target, filepath.Join(targets, c)); err != nil {
			t.Fatal(err)
		}
	}
	f.start("publisher", []api.Role{api.RoleClient}, nil, withPlugins(pdir))
	f.start("relay-1", []api.Role{api.RoleRelay}, nil)
	for _, c := range clients {
		f.start(c, []api.Role{api.RoleClient}, nil, withPlugins(pdir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 5)

	local := api.NewLocal(f.daemons["publisher"].Config().Socket)
	p, err := local.Publish(ctx, api.Publish{Path: "partition://" + srcDev})
	if err != nil {
		t.Fatal(err)
	}
	if p.SHA256 != sum || p.Size != size || p.Name != filepath.Base(srcDev) {
		t.Fatalf("published %+v, want sha256 %s size %d", p, sum, size)
	}
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host,
		To: clients, Dest: "partition://" + targets + "/{host}",
	})
	if err != nil {
		t.Fatal(err)
	}
	d = f.waitEnded(ctx, d.ID)
	if d.State != api.DistComplete {
		t.Fatalf("state = %s, want complete: %+v", d.State, d.Assignments)
	}
	for _, c := range clients {
		if got := sha256Prefix(t, filepath.Join(targets, c), size); got != sum {
			t.Errorf("%s target sha256 %s, want %s", c, got, sum)
		}
		if _, err := os.Stat(filepath.Join(f.dir, c, "files")); !os.IsNotExist(err) {
			t.Errorf("%s wrote a file besides its target device (%v)", c, err)
		}
	}
}

// pluginPids answers the processes running the executable exe that hold file open.
func pluginPids(exe, file string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		if p, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || p != exe {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join("/proc", e.Name(), "fd"))
		for _, fd := range fds {
			if p, err := os.Readlink(filepath.Join("/proc", e.Name(), "fd", fd.Name())); err == nil && p == file {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// TestPluginKilledMidDistribution kills the origin-IO plugin while a client writes into its
// target: that client's task fails with a clear error, the rest of the distribution finishes,
// the daemon keeps running, and its next distribution starts the plugin again.
func TestPluginKilledMidDistribution(t *testing.T) {
	t.Parallel()
	pdir := buildPartitionPlugin(t)
	exe := filepath.Join(pdir, "dist-plugin-partition")
	const size = 16 << 20
	f := newFleet(t)
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	// Slow enough that the kill lands mid-way.
	f.start("client-1", []api.Role{api.RoleClient}, nil, withPlugins(pdir), func(c *daemon.Config) { c.BTDownloadRate = 2 << 20 })
	f.start("client-2", []api.Role{api.RoleClient}, nil, withPlugins(pdir))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f.waitHosts(ctx, 4)
	local := api.NewLocal(f.daemons["publisher"].Config().Socket)

	// push distributes a new file of n bytes to hosts, each writing into its own <host>-<suffix>.
	push := func(seed uint64, n int64, suffix string, to ...string) (api.Distribution, string) {
		src := filepath.Join(f.dir, fmt.Sprintf("src-%d.img", seed))
		sum, err := origin.Generate(src, n, seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range to {
			if err := os.WriteFile(filepath.Join(f.dir, h+"-"+suffix), make([]byte, n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p, err := local.Publish(ctx, api.Publish{Path: src})
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
			Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host, To: to,
			Dest: "partition://" + filepath.Join(f.dir, "{host}-"+suffix),
		})
		if err != nil {
			t.Fatal(err)
		}
		return d, sum
	}
	d, sum := push(1, size, "a.img", "client-1", "client-2")

	// Kill the plugin once client-1 has written some, not all, of the content.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	killed := false
	var dd api.Distribution
	for !killed {
		var err error
		dd, err = f.admin.Distribution(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range dd.Assignments {
			if a.Host == "client-1" && a.State == api.TaskFailed {
				t.Fatalf("client-1 failed before the kill: %s", a.Error)
			}
			if a.Host == "client-1" && a.Have > 0 {
				if a.Have >= size {
					t.Fatal("client-1 finished before the kill: slow it down")
				}
				// Every daemon of the test starts its own plugin process: kill client-1's.
				for _, pid := range pluginPids(exe, filepath.Join(f.dir, "client-1-a.img")) {
					p, _ := os.FindProcess(pid)
					p.Kill()
					killed = true
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("client-1 never started writing: %+v", dd.Assignments)
		case <-tick.C:
		}
	}
	d = f.waitEnded(ctx, d.ID)
	var failed string
	for _, a := range d.Assignments {
		switch a.Host {
		case "client-1":
			if a.State != api.TaskFailed {
				t.Errorf("client-1 state %s, want failed", a.State)
			}
			failed = a.Error
		case "client-2":
			if a.State != api.TaskDone {
				t.Errorf("client-2 state %s (%s), want done", a.State, a.Error)
			}
		}
	}
	if !strings.Contains(failed, "plugin unavailable") || !strings.Contains(failed, "client-1-a.img") {
		t.Errorf("client-1 error %q does not say the plugin died while writing its target", failed)
	}
	if got := sha256Prefix(t, filepath.Join(f.dir, "client-2-a.img"), size); got != sum {
		t.Errorf("client-2 target sha256 %s, want %s", got, sum)
	}
	if d.State != api.DistPartial && d.State != api.DistFailed {
		t.Errorf("distribution state %s, want partial", d.State)
	}

	// The daemon lives on and starts the plugin again for the next distribution.
	d2, sum2 := push(2, 1<<20, "b.img", "client-1")
	d2 = f.waitEnded(ctx, d2.ID)
	if d2.State != api.DistComplete {
		t.Fatalf("after the kill: state %s, want complete: %+v", d2.State, d2.Assignments)
	}
	if got := sha256Prefix(t, filepath.Join(f.dir, "client-1-b.img"), 1<<20); got != sum2 {
		t.Errorf("client-1 second target sha256 %s, want %s", got, sum2)
	}
}
