package plugins_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"dist/core/api"
	"dist/core/selection"
	"dist/plugins"
)

// memDevice is an origin-IO device in memory.
type memDevice struct {
	mu     sync.Mutex
	b      []byte
	synced int
	closed bool
}

func (d *memDevice) ReadAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= int64(len(d.b)) {
		return 0, io.EOF
	}
	n := copy(p, d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *memDevice) WriteAt(p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off+int64(len(p)) > int64(len(d.b)) {
		return 0, errors.New("write past the end of the device")
	}
	return copy(d.b[off:], p), nil
}

func (d *memDevice) Size() int64      { return int64(len(d.b)) }
func (d *memDevice) BlockSize() int64 { return 4096 }
func (d *memDevice) Sync() error      { d.mu.Lock(); d.synced++; d.mu.Unlock(); return nil }
func (d *memDevice) Close() error     { d.mu.Lock(); d.closed = true; d.mu.Unlock(); return nil }

type memIO struct{ devs map[string]*memDevice }

func (m memIO) Open(_ context.Context, uri string, _ bool) (plugins.Device, error) {
	d, ok := m.devs[uri]
	if !ok {
		return nil, fmt.Errorf("no device %s", uri)
	}
	return d, nil
}

// connect runs impl as a plugin in this process, over a real gRPC connection.
func connect(t *testing.T, info plugins.Info, impl any) *plugins.Client {
	t.Helper()
	rpc, _ := plugin.TestPluginGRPCConn(t, false, plugins.ServerSet(info, impl))
	t.Cleanup(func() { rpc.Close() })
	c, err := plugins.Connect(context.Background(), rpc)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c
}

func TestOriginIOContract(t *testing.T) {
	size := 3*plugins.ChunkSize + 777 // crosses the per-message chunking
	dev := &memDevice{b: make([]byte, size)}
	c := connect(t, plugins.Info{Name: "mem", Version: "1.2.3"}, memIO{devs: map[string]*memDevice{"mem:///a": dev}})
	if c.Info.Type != plugins.TypeOriginIO || c.Info.Name != "mem" || c.Info.Version != "1.2.3" || c.Info.APIVersion != 1 {
		t.Fatalf("info = %+v", c.Info)
	}
	if _, err := c.RelayPolicy(); err == nil {
		t.Fatal("an origin-IO plugin dispensed as a relay policy")
	}
	oio, err := c.OriginIO()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := oio.Open(ctx, "mem:///missing", false); err == nil || !strings.Contains(err.Error(), "no device mem:///missing") {
		t.Fatalf("open of a missing device: %v, want the plugin's error", err)
	}
	d, err := oio.Open(ctx, "mem:///a", true)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != int64(size) || d.BlockSize() != 4096 {
		t.Fatalf("size %d block %d", d.Size(), d.BlockSize())
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size-100]
	if n, err := d.WriteAt(want, 100); err != nil || n != len(want) {
		t.Fatalf("write: %d, %v", n, err)
	}
	got := make([]byte, len(want))
	if n, err := d.ReadAt(got, 100); err != nil || n != len(got) || !bytes.Equal(got, want) {
		t.Fatalf("read back: %d, %v, equal %v", n, err, bytes.Equal(got, want))
	}
	// Reading past the end answers what is there and io.EOF, as io.ReaderAt says.
	tail := make([]byte, 1000)
	if n, err := d.ReadAt(tail, int64(size-10)); n != 10 || !errors.Is(err, io.EOF) {
		t.Fatalf("read at the end: %d, %v; want 10, EOF", n, err)
	}
	if _, err := d.WriteAt([]byte("x"), int64(size)); err == nil {
		t.Fatal("write past the end accepted")
	}
	if err := d.Sync(); err != nil || dev.synced != 1 {
		t.Fatalf("sync: %v, synced %d", err, dev.synced)
	}
	if err := d.Close(); err != nil || !dev.closed {
		t.Fatalf("close: %v, closed %v", err, dev.closed)
	}
	if _, err := d.ReadAt(got[:1], 0); err == nil {
		t.Fatal("read after close accepted")
	}
	if h, err := c.Health(ctx); err != nil || h != "ok" {
		t.Fatalf("health: %q, %v", h, err)
	}
}

// policyFunc is a relay policy from a function.
type policyFunc func(context.Context, selection.Request) ([]selection.Group, error)

func (f policyFunc) ChooseRelays(ctx context.Context, r selection.Request) ([]selection.Group, error) {
	return f(ctx, r)
}

func TestRelayPolicyContract(t *testing.T) {
	var seen selection.Request
	impl := policyFunc(func(_ context.Context, r selection.Request) ([]selection.Group, error) {
		seen = r
		switch r.Dist.Name {
		case "nonsense":
			return []selection.Group{{Name: "x", Targets: []string{"t1"}, Relays: []string{"not-a-candidate"}}}, nil
		case "fail":
			return nil, errors.New("site map has no entry for t1")
		}
		return []selection.Group{{Name: "site-b", Targets: []string{"t1", "t2"}, Relays: []string{"r2"}}}, nil
	})
	c := connect(t, plugins.Info{Name: "pol", Version: "0.1"}, impl)
	if c.Info.Type != plugins.TypeRelayPolicy {
		t.Fatalf("type = %q", c.Info.Type)
	}
	rp, err := c.RelayPolicy()
	if err != nil {
		t.Fatal(err)
	}
	req := selection.Request{
		Dist:    api.Distribution{ID: "d1", Name: "img", Size: 42, Source: "http://o/img"},
		Targets: []api.Host{{Name: "t1", BTAddr: "127.0.2.1:6881"}, {Name: "t2", Labels: map[string]string{"site": "b"}}},
		Candidates: []selection.Candidate{
			{Host: api.Host{Name: "r1", Roles: []api.Role{api.RoleRelay}}, Active: 3},
			{Host: api.Host{Name: "r2", HTTPURL: "http://127.0.2.9:7700"}, Active: 1},
		},
		History: map[string]selection.History{"r1": {Done: 4, Failed: 2}},
		Count:   1,
	}
	groups, err := rp.ChooseRelays(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || !slices.Equal(groups[0].Relays, []string{"r2"}) || !slices.Equal(groups[0].Targets, []string{"t1", "t2"}) || groups[0].Name != "site-b" {
		t.Fatalf("groups = %+v", groups)
	}
	// Every fact crossed the wire.
	if seen.Dist.ID != "d1" || seen.Dist.Size != 42 || seen.Count != 1 || len(seen.Targets) != 2 ||
		seen.Targets[0].BTAddr != "127.0.2.1:6881" || seen.Targets[1].Labels["site"] != "b" ||
		seen.Candidates[0].Active != 3 || seen.Candidates[1].Host.HTTPURL != "http://127.0.2.9:7700" ||
		seen.History["r1"] != (selection.History{Done: 4, Failed: 2}) {
		t.Fatalf("plugin saw %+v", seen)
	}
	req.Dist.Name = "nonsense"
	if _, err := rp.ChooseRelays(context.Background(), req); err == nil || !strings.Contains(err.Error(), "not a candidate") {
		t.Fatalf("nonsense answer: %v, want refused", err)
	}
	req.Dist.Name = "fail"
	if _, err := rp.ChooseRelays(context.Background(), req); err == nil || !strings.Contains(err.Error(), "site map has no entry") {
		t.Fatalf("failing plugin: %v, want its error", err)
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		ours, theirs []uint32
		want         uint32
	}{
		{[]uint32{1}, []uint32{1}, 1},
		{[]uint32{1, 2}, []uint32{1, 2, 3}, 2},
		{[]uint32{1, 2}, []uint32{2}, 2},
		{[]uint32{1}, []uint32{2, 3}, 0},
		{[]uint32{1}, nil, 0},
	} {
		got, err := plugins.Negotiate(tc.ours, tc.theirs)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("Negotiate(%v, %v) = %d, %v; want %d", tc.ours, tc.theirs, got, err, tc.want)
		}
	}
}

func TestNegotiationRefusesForeignVersions(t *testing.T) {
	rpc, _ := plugin.TestPluginGRPCConn(t, false, plugins.ServerSet(plugins.Info{Name: "future", APIVersions: []uint32{7}}, memIO{}))
	defer rpc.Close()
	_, err := plugins.Connect(context.Background(), rpc)
	if err == nil || !strings.Contains(err.Error(), "API versions [7]") {
		t.Fatalf("connect to a v7-only plugin: %v, want a version error", err)
	}
}

func TestDiscover(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write := func(dir, name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "dist-plugin-zeta", 0o755)
	write(a, "dist-plugin-alpha", 0o755)
	write(a, "dist-plugin-notexec", 0o644)
	write(a, "other-tool", 0o755)
	write(b, "dist-plugin-alpha", 0o755) // shadowed by a's
	write(b, "dist-plugin-beta", 0o755)
	found, err := plugins.Discover(a, b, filepath.Join(a, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	want := []plugins.Found{
		{Name: "alpha", Path: filepath.Join(a, "dist-plugin-alpha")},
		{Name: "beta", Path: filepath.Join(b, "dist-plugin-beta")},
		{Name: "zeta", Path: filepath.Join(a, "dist-plugin-zeta")},
	}
	if !slices.Equal(found, want) {
		t.Fatalf("found %+v, want %+v", found, want)
	}
	if _, err := plugins.Find("gamma", a); err == nil || !strings.Contains(err.Error(), "install dist-plugin-gamma") {
		t.Fatalf("find of a missing plugin: %v", err)
	}
}

// logSink collects slog records.
type logSink struct {
	mu   sync.Mutex
	recs []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	s.mu.Lock()
	s.recs = append(s.recs, b.String())
	s.mu.Unlock()
	return nil
}
func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

func (s *logSink) find(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.recs {
		if strings.Contains(r, sub) {
			return true
		}
	}
	return false
}

// TestSubprocess builds the partition plugin, starts it as the daemon does, and reads and writes a
// file through it; the plugin's log lines arrive in our slog output.
func TestSubprocess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "dist-plugin-partition")
	build := exec.Command("go", "build", "-o", exe, "dist/plugins/cmd/dist-plugin-partition")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	path, err := plugins.Find("partition", dir)
	if err != nil {
		t.Fatal(err)
	}
	sink := &logSink{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := plugins.Start(ctx, path, slog.New(sink))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	if c.Info.Name != "partition" || c.Info.Type != plugins.TypeOriginIO || c.Pid() == 0 {
		t.Fatalf("info %+v pid %d", c.Info, c.Pid())
	}
	if h, err := c.Health(ctx); err != nil || h != "ok" {
		t.Fatalf("health %q %v", h, err)
	}
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	oio, err := c.OriginIO()
	if err != nil {
		t.Fatal(err)
	}
	d, err := oio.Open(ctx, "partition://"+img+"?direct=0", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.WriteAt([]byte("hello partition"), 4096+3); err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(img)
	if string(b[4099:4099+15]) != "hello partition" {
		t.Fatalf("file holds %q", b[4099:4099+15])
	}
	if _, err := oio.Open(ctx, "partition:///no/such/device", false); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("open of a missing device: %v", err)
	}
	// The plugin's own log line (JSON on its stderr) reached our slog output with its attributes.
	if !sink.find("partition plugin serving") || !sink.find("pid=") {
		t.Errorf("no plugin log line reached slog: %q", sink.recs)
	}
	// A killed plugin turns calls into a clear error, not a hang.
	p, _ := os.FindProcess(c.Pid())
	p.Kill()
	if _, err := d.ReadAt(make([]byte, 10), 0); err == nil || !strings.Contains(err.Error(), "plugin unavailable") {
		t.Fatalf("read from a killed plugin: %v", err)
	}
}
