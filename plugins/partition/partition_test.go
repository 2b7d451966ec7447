package partition_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"dist/plugins/partition"
)

func TestParseURI(t *testing.T) {
	for _, uri := range []string{"http:///dev/sdb1", "partition://host/dev/sdb1", "partition://", "partition:///x?direct=maybe"} {
		if _, err := (partition.Plugin{}).Open(context.Background(), uri, false); err == nil {
			t.Errorf("Open(%q) accepted", uri)
		}
	}
}

// roundTrip writes random bytes at unaligned offsets and reads them back, buffered and direct.
func roundTrip(t *testing.T, path string) {
	for _, direct := range []string{"0", "1"} {
		t.Run("direct="+direct, func(t *testing.T) {
			d, err := (partition.Plugin{}).Open(context.Background(), "partition://"+path+"?direct="+direct, true)
			if err != nil {
				if direct == "1" && strings.Contains(err.Error(), "invalid argument") {
					t.Skipf("O_DIRECT not supported on this filesystem: %v", err)
				}
				t.Fatal(err)
			}
			defer d.Close()
			if d.BlockSize() <= 0 || d.Size() != 1<<20 {
				t.Fatalf("size %d block %d", d.Size(), d.BlockSize())
			}
			r := rand.New(rand.NewPCG(1, 2))
			for _, c := range []struct{ off, n int64 }{{0, 4096}, {3, 100}, {5000, 70000}, {1<<20 - 33, 33}} {
				b := make([]byte, c.n)
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				if n, err := d.WriteAt(b, c.off); err != nil || int64(n) != c.n {
					t.Fatalf("write %d at %d: %d, %v", c.n, c.off, n, err)
				}
				got := make([]byte, c.n)
				if n, err := d.ReadAt(got, c.off); err != nil || !bytes.Equal(got, b) {
					t.Fatalf("read %d at %d: %d, %v, equal %v", c.n, c.off, n, err, bytes.Equal(got, b))
				}
			}
			if _, err := d.WriteAt([]byte("xy"), 1<<20-1); err == nil {
				t.Fatal("write past the end accepted")
			}
			got := make([]byte, 100)
			if n, err := d.ReadAt(got, 1<<20-10); n != 10 || !errors.Is(err, io.EOF) {
				t.Fatalf("read at the end: %d, %v", n, err)
			}
			if err := d.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRegularFile(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the partition plugin is Linux only")
	}
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, path)
}

// TestLoopDevice runs the same round trip on a real block device, sized by the kernel's ioctl.
func TestLoopDevice(t *testing.T) {
	dev := LoopDevice(t, 1<<20)
	roundTrip(t, dev)
}

// LoopDevice attaches a loop device over a new file of size bytes, or skips the test saying why.
func LoopDevice(t *testing.T, size int64) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("loop devices are Linux only")
	}
	img := filepath.Join(t.TempDir(), "loop.img")
	if err := os.WriteFile(img, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device on this machine (losetup: %v: %s): the regular-file test covers the same path", err, strings.TrimSpace(string(out)))
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}
