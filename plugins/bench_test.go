package plugins_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"dist/plugins"
)

// BenchmarkSubprocessIO measures one origin-IO call through a real plugin process: the cost every
// 16 KiB BitTorrent block pays when a partition is the storage.
//
//	go test ./plugins/ -run '^$' -bench SubprocessIO
func BenchmarkSubprocessIO(b *testing.B) {
	dir := b.TempDir()
	exe := filepath.Join(dir, "dist-plugin-partition")
	build := exec.Command("go", "build", "-o", exe, "dist/plugins/cmd/dist-plugin-partition")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build plugin: %v\n%s", err, out)
	}
	ctx := context.Background()
	c, err := plugins.Start(ctx, exe, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Kill()
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 64<<20), 0o644); err != nil {
		b.Fatal(err)
	}
	oio, err := c.OriginIO()
	if err != nil {
		b.Fatal(err)
	}
	d, err := oio.Open(ctx, "partition://"+img, true)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, n := range []int{16 << 10, 1 << 20} {
		buf := make([]byte, n)
		name := map[int]string{16 << 10: "16KiB", 1 << 20: "1MiB"}[n]
		b.Run("write-"+name, func(b *testing.B) {
			b.SetBytes(int64(n))
			off := int64(0)
			for b.Loop() {
				if _, err := d.WriteAt(buf, off); err != nil {
					b.Fatal(err)
				}
				off = (off + int64(n)) % (64 << 20)
			}
		})
		b.Run("read-"+name, func(b *testing.B) {
			b.SetBytes(int64(n))
			off := int64(0)
			for b.Loop() {
				if _, err := d.ReadAt(buf, off); err != nil {
					b.Fatal(err)
				}
				off = (off + int64(n)) % (64 << 20)
			}
		})
	}
}
