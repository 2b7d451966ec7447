package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"dist/core/api"
	"dist/core/content"
	"dist/daemon"
	"dist/daemon/demo/origin"
)

// BenchmarkPublishHash measures `dist push ./file` up to the metainfo: a daemon hashes a 256 MiB
// file (cached) through its LocalAPI, SHA-1 of the pieces in parallel on every core and the
// whole-file SHA-256 beside them. The baseline in the same run is SHA-1 of the pieces on one core.
func BenchmarkPublishHash(b *testing.B) {
	const size = 256 << 20
	dir := b.TempDir()
	path := filepath.Join(dir, "image.bin")
	if _, err := origin.Generate(path, size, 5); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	gibps := func(b *testing.B) {
		b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds()/(1<<30), "GiB/s")
	}

	b.Run("baseline=sha1-one-core", func(b *testing.B) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(size)
		for b.Loop() {
			if _, err := content.HashPieces(ctx, f, size, content.PieceLength(size), 1); err != nil {
				b.Fatal(err)
			}
		}
		gibps(b)
	})

	b.Run("publish", func(b *testing.B) {
		sock, err := os.CreateTemp("", "dist-*.sock")
		if err != nil {
			b.Fatal(err)
		}
		sock.Close()
		os.Remove(sock.Name())
		dctx, cancel := context.WithCancel(ctx)
		defer cancel()
		d, err := daemon.Start(dctx, daemon.Config{
			Roles: []api.Role{api.RoleController, api.RoleClient}, Name: "publisher",
			Listen: "127.0.0.1:0", BTListen: "127.0.0.1:0", Data: filepath.Join(dir, "data"), Socket: sock.Name(),
			AdminToken: adminToken, HostToken: hostToken, Token: hostToken,
			Logger: testLogger(b),
		})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		local := api.NewLocal(sock.Name())
		b.SetBytes(size)
		for b.Loop() {
			p, err := local.Publish(ctx, api.Publish{Path: path})
			if err != nil {
				b.Fatal(err)
			}
			if p.Size != size {
				b.Fatalf("published %d bytes, want %d", p.Size, size)
			}
		}
		gibps(b)
	})
}
