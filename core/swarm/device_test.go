package swarm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// memDevice is a Device in memory, bigger than the content like a real partition.
type memDevice struct {
	mu     sync.Mutex
	b      []byte
	syncs  int
	writes int
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
		return 0, errors.New("past the end")
	}
	d.writes++
	return copy(d.b[off:], p), nil
}

func (d *memDevice) Size() int64      { return int64(len(d.b)) }
func (d *memDevice) BlockSize() int64 { return 0 }
func (d *memDevice) Sync() error      { d.mu.Lock(); d.syncs++; d.mu.Unlock(); return nil }
func (d *memDevice) Close() error     { d.mu.Lock(); d.closed = true; d.mu.Unlock(); return nil }

// TestDeviceSeedToDevice seeds from one device and fetches into another over BitTorrent: the
// storage path a partition takes through an origin-IO plugin.
func TestDeviceSeedToDevice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	src := makeSource(t, dir, 5*mib+333, 9)
	srcDev := &memDevice{b: append(bytes.Clone(src.data), make([]byte, 4096)...)}
	dstDev := &memDevice{b: make([]byte, len(src.data)+8192)}

	a, b := newNode(t, Config{}), newNode(t, Config{})
	seed := add(t, a, Spec{Meta: src.meta, DataPath: "mem:///src", Device: srcDev, Complete: true,
		CompletionPath: filepath.Join(dir, "src.pieces")})
	leech := add(t, b, Spec{Meta: src.meta, DataPath: "mem:///dst", Device: dstDev,
		CompletionPath: filepath.Join(dir, "dst.pieces")})
	leech.AddPeers([]string{a.Addr()})
	seed.AddPeers([]string{b.Addr()})
	waitDone(t, ctx, leech)
	if !bytes.Equal(dstDev.b[:len(src.data)], src.data) {
		t.Fatal("device content differs from the source")
	}
	if leech.DataPath() != "mem:///dst" {
		t.Errorf("data path %q, want the device's name", leech.DataPath())
	}
	if err := leech.Move(filepath.Join(dir, "moved")); err == nil {
		t.Error("a device was moved")
	}
	if err := leech.Drop(true); err != nil {
		t.Fatal(err)
	}
	if !dstDev.closed {
		t.Error("drop did not close the device")
	}
	if _, err := os.Stat(filepath.Join(dir, "dst.pieces")); !os.IsNotExist(err) {
		t.Errorf("completion record left after Drop(true): %v", err)
	}
}

func TestDeviceTooSmall(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir, mib, 3)
	n := newNode(t, Config{})
	_, err := n.Add(context.Background(), Spec{Meta: src.meta, DataPath: "mem:///small", Device: &memDevice{b: make([]byte, 1000)},
		CompletionPath: filepath.Join(dir, "x.pieces")})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("use a bigger target")) {
		t.Fatalf("add to a small device: %v", err)
	}
}
