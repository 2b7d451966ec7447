package partition

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"dist/plugins"
)

const supported = true

var errNotSupported = errors.New("raw partitions are not supported on this operating system")

// device is an open block device or regular file.
type device struct {
	f      *os.File
	path   string
	size   int64
	block  int64
	direct bool
	rmw    sync.Mutex // read-modify-write of partial blocks under O_DIRECT
}

func open(path string, write, direct bool) (plugins.Device, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	if direct {
		flag |= unix.O_DIRECT
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err // names the path already
	}
	d := &device{f: f, path: path, direct: direct}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	switch {
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		// A block device stats as size 0: ask the kernel.
		var size uint64
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
			f.Close()
			return nil, fmt.Errorf("size of block device %s: %w", path, e)
		}
		bs, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("block size of %s: %w", path, err)
		}
		d.size, d.block = int64(size), int64(bs)
	case fi.Mode().IsRegular():
		d.size, d.block = fi.Size(), 512
		if st, ok := fi.Sys().(*unix.Stat_t); ok && st.Blksize > 0 {
			d.block = int64(st.Blksize)
		}
	default:
		f.Close()
		return nil, fmt.Errorf("open %s: not a block device or regular file", path)
	}
	return d, nil
}

func (d *device) Size() int64      { return d.size }
func (d *device) BlockSize() int64 { return d.block }
func (d *device) Sync() error      { return d.f.Sync() }
func (d *device) Close() error     { return d.f.Close() }

func (d *device) ReadAt(b []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	want := min(int64(len(b)), d.size-off)
	var n int
	var err error
	if d.direct {
		n, err = d.readDirect(b[:want], off)
	} else {
		n, err = d.f.ReadAt(b[:want], off)
	}
	if err == nil && int64(n) < int64(len(b)) {
		err = io.EOF
	}
	return n, err
}

func (d *device) WriteAt(b []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(b)) > d.size {
		return 0, fmt.Errorf("write %s: %d bytes at %d pass its end at %d", d.path, len(b), off, d.size)
	}
	if d.direct {
		return d.writeDirect(b, off)
	}
	return d.f.WriteAt(b, off)
}

// span is the block-aligned range covering [off, off+n).
func (d *device) span(off, n int64) (start, end int64) {
	start = off &^ (d.block - 1)
	end = (off + n + d.block - 1) &^ (d.block - 1)
	return start, end
}

// aligned returns n bytes whose address is a multiple of the block size, as O_DIRECT needs.
func (d *device) aligned(n int64) []byte {
	buf := make([]byte, n+d.block)
	skip := int64(0)
	if r := int64(uintptr(unsafe.Pointer(&buf[0]))) & (d.block - 1); r != 0 {
		skip = d.block - r
	}
	return buf[skip : skip+n]
}

func (d *device) readDirect(b []byte, off int64) (int, error) {
	start, end := d.span(off, int64(len(b)))
	buf := d.aligned(end - start)
	n, err := d.f.ReadAt(buf, start)
	if int64(n) < off-start {
		return 0, err
	}
	got := copy(b, buf[off-start:n])
	if got == len(b) {
		err = nil
	}
	return got, err
}

func (d *device) writeDirect(b []byte, off int64) (int, error) {
	start, end := d.span(off, int64(len(b)))
	buf := d.aligned(end - start)
	partial := start != off || end != off+int64(len(b))
	if partial {
		// The edges belong to neighbouring writes too: read, patch, write under one lock.
		d.rmw.Lock()
		defer d.rmw.Unlock()
		if _, err := d.f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("write %s at %d: %w", d.path, off, err)
		}
	}
	copy(buf[off-start:], b)
	if _, err := d.f.WriteAt(buf, start); err != nil {
		return 0, fmt.Errorf("write %s at %d: %w", d.path, off, err)
	}
	return len(b), nil
}
