package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/core/swarm"
	"dist/daemon"
	"dist/daemon/demo/origin"
	"dist/daemon/task"
)

// endChecks keeps the "trusted end check" records a daemon logs, and passes every record on.
type endChecks struct {
	next slog.Handler
	mu   *sync.Mutex
	got  *[]map[string]any
}

func (h endChecks) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (h endChecks) WithAttrs(a []slog.Attr) slog.Handler {
	return endChecks{h.next.WithAttrs(a), h.mu, h.got}
}
func (h endChecks) WithGroup(n string) slog.Handler {
	return endChecks{h.next.WithGroup(n), h.mu, h.got}
}
func (h endChecks) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "trusted end check" {
		m := map[string]any{}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Any(); return true })
		h.mu.Lock()
		*h.got = append(*h.got, m)
		h.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

// trustedCase is a trusted push to client-1 whose copy is staged before client-1 takes its task,
// as a crash after the download left it: every piece recorded verified, and data.part as stage
// writes it.
type trustedCase struct {
	f      *fleet
	data   []byte
	pub    api.Published
	meta   content.Meta
	dist   api.Distribution
	dir    string // client-1's task directory
	mu     sync.Mutex
	checks []map[string]any
}

func newTrustedCase(t *testing.T, ctx context.Context, size, pl int64, seed uint64) *trustedCase {
	t.Helper()
	c := &trustedCase{f: newFleet(t)}
	c.f.start("publisher", []api.Role{api.RoleClient}, nil)
	c.f.start("client-1", []api.Role{api.RoleClient}, nil)
	c.f.waitHosts(ctx, 3)
	gen := filepath.Join(c.f.dir, "image.img")
	if _, err := origin.Generate(gen, size, seed); err != nil {
		t.Fatal(err)
	}
	var err error
	if c.data, err = os.ReadFile(gen); err != nil {
		t.Fatal(err)
	}
	if c.pub, err = api.NewLocal(c.f.daemons["publisher"].Config().Socket).Publish(ctx, api.Publish{Path: gen, PieceLen: pl}); err != nil {
		t.Fatal(err)
	}
	mi, err := content.Trust(c.pub.Metainfo) // what push --trusted sends
	if err != nil {
		t.Fatal(err)
	}
	if c.meta, err = content.Parse(mi); err != nil || !c.meta.Trusted {
		t.Fatalf("trusted metainfo: %v", err)
	}
	c.f.stop("client-1") // the task waits for it while its copy is staged
	c.dist, err = c.f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: c.pub.Source, Metainfo: mi, SHA256: c.pub.SHA256, Publisher: c.pub.Host, To: []string{"client-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.dir = filepath.Join(c.f.dir, "client-1", "tasks", task.SafeName(c.dist.ID))
	return c
}

// stage writes part as client-1's partial copy with every piece recorded verified.
func (c *trustedCase) stage(t *testing.T, part []byte) {
	t.Helper()
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "data.part"), part, 0o644); err != nil {
		t.Fatal(err)
	}
	rec, err := swarm.OpenRecord(slog.New(slog.DiscardHandler), filepath.Join(c.dir, "data.pieces"), c.meta.NumPieces,
		sha1.Sum(c.meta.InfoBytes), func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.meta.NumPieces {
		rec.MarkComplete(i, c.meta.PieceHash(i))
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
}

// finish starts client-1 again and waits for the distribution's end; it answers the client's bytes
// fetched over any source.
func (c *trustedCase) finish(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	c.f.start("client-1", []api.Role{api.RoleClient}, nil, func(cfg *daemon.Config) {
		cfg.Logger = slog.New(endChecks{next: cfg.Logger.Handler(), mu: &c.mu, got: &c.checks})
	})
	d := c.f.waitEnded(ctx, c.dist.ID)
	if d.State != api.DistComplete {
		t.Fatalf("state %s: %+v", d.State, d.Assignments)
	}
	got, err := content.SHA256File(ctx, filepath.Join(c.f.dir, "client-1", "files", "image.img"))
	if err != nil || got != c.pub.SHA256 {
		t.Fatalf("copy in place has sha256 %s (%v), want %s", got, err, c.pub.SHA256)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "endcheck.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("end check state left behind: %v", err)
	}
	for _, a := range d.Assignments {
		if a.Role == api.RoleClient {
			return a.BytesBT + a.BytesHTTPRelay + a.BytesHTTPOrigin
		}
	}
	t.Fatalf("no client assignment: %+v", d.Assignments)
	return 0
}

func (c *trustedCase) endChecks() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.checks...)
}

// A byte flipped in the middle of a copy after its piece was verified (rot on disk, or a crash
// that left the record ahead of the data) is caught by the trusted end check; the per-piece pass
// finds that one piece, it alone is fetched again, and the copy moved into place is the published
// image. Nothing is moved into place before a check passed.
func TestTrustedEndCheckRepairsFlippedByte(t *testing.T) {
	t.Parallel()
	const size, pl = 8<<20 + 777, 256 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newTrustedCase(t, ctx, size, pl, 31)
	bad := bytes.Clone(c.data)
	bad[size/2] ^= 0x40
	c.stage(t, bad)
	if _, err := os.Stat(filepath.Join(c.f.dir, "client-1", "files", "image.img")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("something in place before the check: %v", err)
	}
	moved := c.finish(t, ctx)
	if moved != pl {
		t.Errorf("%d bytes fetched for the repair, want the one bad piece (%d)", moved, pl)
	}
	checks := c.endChecks()
	if len(checks) != 2 || checks[0]["match"] != false || checks[1]["match"] != true {
		t.Errorf("end checks %v, want one that fails, then one that passes", checks)
	}
}

// A daemon that crashed in the middle of the trusted end check resumes it from its saved state:
// it reads only the bytes after it, fetches nothing, and the copy lands whole.
func TestTrustedEndCheckResumesAfterCrash(t *testing.T) {
	t.Parallel()
	const size, pl = 8<<20 + 777, 256 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := newTrustedCase(t, ctx, size, pl, 32)
	c.stage(t, c.data)
	// The crash: the check had read a little over half when the process died.
	cctx, crash := context.WithCancel(ctx)
	r := &crashAt{r: bytes.NewReader(c.data), at: size / 2, crash: crash}
	if _, _, err := content.ResumableSHA256(cctx, r, size, c.meta.InfoHash, filepath.Join(c.dir, "endcheck.json"), 1<<20); !errors.Is(err, context.Canceled) {
		t.Fatalf("staged crash: %v", err)
	}
	if moved := c.finish(t, ctx); moved != 0 {
		t.Errorf("%d bytes fetched, want none", moved)
	}
	checks := c.endChecks()
	if len(checks) != 1 || checks[0]["match"] != true {
		t.Fatalf("end checks %v, want one that passes", checks)
	}
	from, read := checks[0]["resumed_at"].(int64), checks[0]["bytes"].(int64)
	r.mu.Lock()
	before := r.read
	r.mu.Unlock()
	if from <= 0 || from > before || read != size-from {
		t.Errorf("end check resumed at %d and read %d bytes, want it to go on from a state saved within the %d bytes read before the crash", from, read, before)
	}
}

// crashAt cancels once at bytes were read.
type crashAt struct {
	r     *bytes.Reader
	mu    sync.Mutex
	read  int64
	at    int64
	crash context.CancelFunc
}

func (c *crashAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.mu.Lock()
	c.read += int64(n)
	if c.read >= c.at {
		c.crash()
	}
	c.mu.Unlock()
	return n, err
}

// A trusted push to a device (the partition plugin over a loop device where this machine can make
// one, else a file behind the plugin) full of garbage: the zero pieces are written locally, the
// end check reads the device once, and the device ends holding the image.
func TestTrustedOnDevice(t *testing.T) {
	t.Parallel()
	const size, pl = 8 << 20, 256 << 10 // 32 pieces
	pdir := buildPartitionPlugin(t)
	f := newFleet(t)
	gen := filepath.Join(f.dir, "image.img")
	if _, err := origin.Generate(gen, size, 33); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	clear(data[4*pl : 28*pl]) // 24 of 32 pieces zero
	if err := os.WriteFile(gen, data, 0o644); err != nil {
		t.Fatal(err)
	}
	target := garbageTarget(t, f, size, 0x5a)
	var mu sync.Mutex
	var checks []map[string]any
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, nil, withPlugins(pdir), func(cfg *daemon.Config) {
		cfg.Logger = slog.New(endChecks{next: cfg.Logger.Handler(), mu: &mu, got: &checks})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)
	p, err := api.NewLocal(f.daemons["publisher"].Config().Socket).Publish(ctx, api.Publish{Path: gen, PieceLen: pl})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := content.Trust(p.Metainfo)
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
		Source: p.Source, Metainfo: mi, SHA256: p.SHA256, Publisher: p.Host, To: []string{"client-1"}, Dest: "partition://" + target,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
		t.Fatalf("state %s: %+v", d.State, d.Assignments)
	}
	if got := sha256Prefix(t, target, size); got != p.SHA256 {
		t.Fatalf("device holds sha256 %s, want %s", got, p.SHA256)
	}
	for _, a := range d.Assignments {
		if a.Role == api.RoleClient && (a.BytesZero != 24*pl || a.BytesBT+a.BytesHTTPRelay+a.BytesHTTPOrigin != 8*pl) {
			t.Errorf("bytes zero %d, fetched %d; want %d and %d", a.BytesZero, a.BytesBT+a.BytesHTTPRelay+a.BytesHTTPOrigin, 24*pl, 8*pl)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(checks) != 1 || checks[0]["match"] != true || checks[0]["bytes"] != int64(size) {
		t.Errorf("end checks %v, want one trusted check over the whole device content that passes", checks)
	}
}
