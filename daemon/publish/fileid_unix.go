//go:build !windows

package publish

import (
	"io/fs"
	"syscall"
)

// inode identifies the file behind fi, so that a file swapped for another of the same size and
// time is noticed.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
