package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon/demo/origin"
)

// A 70 %-zero image published and pushed moves only its data pieces; v2 of it (two pieces
// changed) pushed to the same destination moves only those two pieces, keeps the rest from v1,
// and both copies land bit-identical. Bytes are counted over every source (BitTorrent and HTTP).
func TestBigImageZeroAndDelta(t *testing.T) {
	t.Parallel()
	const size, pl = 16 << 20, 256 << 10 // 64 pieces
	f := newFleet(t)
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)

	gen := filepath.Join(f.dir, "gen.bin")
	if _, err := origin.Generate(gen, size, 18); err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	clear(v1[10*pl : 55*pl]) // 45 of 64 pieces zero: 70 %
	v2 := append([]byte(nil), v1...)
	v2[3*pl+9] ^= 1
	v2[60*pl+9] ^= 1
	local := api.NewLocal(f.daemons["publisher"].Config().Socket)
	push := func(version string, data []byte) api.Distribution {
		t.Helper()
		path := filepath.Join(f.dir, version, "image.img")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := local.Publish(ctx, api.Publish{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
			Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host, To: []string{"client-1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
			t.Fatalf("%s: state %s: %+v", version, d.State, d.Assignments)
		}
		got, err := content.SHA256File(ctx, filepath.Join(f.dir, "client-1", "files", "image.img"))
		if err != nil || got != p.SHA256 {
			t.Fatalf("%s: copy sha256 %s (%v), want %s", version, got, err, p.SHA256)
		}
		return d
	}
	moved := func(d api.Distribution) int64 {
		for _, a := range d.Assignments {
			if a.Host == "client-1" && a.Role == api.RoleClient {
				t.Logf("%s: bt %d, http relay %d, http origin %d of %d bytes", d.Name, a.BytesBT, a.BytesHTTPRelay, a.BytesHTTPOrigin, d.Size)
				return a.BytesBT + a.BytesHTTPRelay + a.BytesHTTPOrigin
			}
		}
		t.Fatalf("no client assignment: %+v", d.Assignments)
		return 0
	}
	if got, want := moved(push("v1", v1)), int64(19*pl); got < want || got > want+want/10 {
		t.Errorf("v1 (70 %% zero): %d bytes moved, want about the %d data bytes", got, want)
	}
	if got, want := moved(push("v2", v2)), int64(2*pl); got < want || got > want+want/2 {
		t.Errorf("v2 (2 pieces changed): %d bytes moved, want about %d", got, want)
	}
}

// garbageTarget answers a device destination of size bytes full of fill: a loop device over a
// file where this machine can make one, else the file itself (behind the partition plugin).
func garbageTarget(t *testing.T, f *fleet, size int, fill byte) string {
	t.Helper()
	img := filepath.Join(f.dir, "target.img")
	if err := os.WriteFile(img, bytes.Repeat([]byte{fill}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	if dev := loopDevice(t, img); dev != "" {
		return dev
	}
	t.Log("no loop device: the target is a file behind the plugin")
	return img
}

// The same on a device destination through the partition plugin (a loop device where this
// machine can make one, else a file behind the plugin): a target full of garbage gets the zero
// pieces written locally and fetches only the data pieces, then v2 updates it in place fetching
// only the two changed pieces; both land bit-identical.
func TestBigImageOnDevice(t *testing.T) {
	t.Parallel()
	const size, pl = 8 << 20, 256 << 10 // 32 pieces
	pdir := buildPartitionPlugin(t)
	f := newFleet(t)
	gen := filepath.Join(f.dir, "gen.bin")
	if _, err := origin.Generate(gen, size, 19); err != nil {
		t.Fatal(err)
	}
	v1, err := os.ReadFile(gen)
	if err != nil {
		t.Fatal(err)
	}
	clear(v1[8*pl : 30*pl]) // 22 of 32 pieces zero
	v2 := bytes.Clone(v1)
	v2[2*pl+5] ^= 1
	v2[31*pl+5] ^= 1
	target := garbageTarget(t, f, size, 0xa5)
	f.start("publisher", []api.Role{api.RoleClient}, nil)
	f.start("client-1", []api.Role{api.RoleClient}, nil, withPlugins(pdir))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f.waitHosts(ctx, 3)
	local := api.NewLocal(f.daemons["publisher"].Config().Socket)
	for _, v := range []struct {
		name string
		data []byte
		want int64
	}{{"v1", v1, 10 * pl}, {"v2", v2, 2 * pl}} {
		path := filepath.Join(f.dir, v.name, "image.img")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, v.data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := local.Publish(ctx, api.Publish{Path: path, PieceLen: pl})
		if err != nil {
			t.Fatal(err)
		}
		d, err := f.admin.CreateDistribution(ctx, api.CreateDistribution{
			Source: p.Source, Metainfo: p.Metainfo, SHA256: p.SHA256, Publisher: p.Host,
			To: []string{"client-1"}, Dest: "partition://" + target,
		})
		if err != nil {
			t.Fatal(err)
		}
		if d = f.waitEnded(ctx, d.ID); d.State != api.DistComplete {
			t.Fatalf("%s: state %s: %+v", v.name, d.State, d.Assignments)
		}
		sum := sha256.Sum256(v.data)
		if got := sha256Prefix(t, target, size); got != hex.EncodeToString(sum[:]) {
			t.Fatalf("%s: target sha256 %s, want %x", v.name, got, sum)
		}
		for _, a := range d.Assignments {
			if a.Role != api.RoleClient {
				continue
			}
			got := a.BytesBT + a.BytesHTTPRelay + a.BytesHTTPOrigin
			t.Logf("%s: %d of %d bytes moved", v.name, got, size)
			if got < v.want || got > v.want+v.want/2 {
				t.Errorf("%s: %d bytes moved, want about %d", v.name, got, v.want)
			}
		}
	}
}
