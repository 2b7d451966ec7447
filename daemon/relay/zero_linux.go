package relay

import (
	"os"

	"golang.org/x/sys/unix"
)

// punchHole deallocates [off, off+l) of f, keeping its size: the range then reads as zeros and
// costs no disk.
func punchHole(f *os.File, off, l int64) error {
	return unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, l)
}
