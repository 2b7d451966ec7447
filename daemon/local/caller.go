package local

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"dist/core/api"
	"dist/daemon/pluginhost"
)

// caller is who is at the other end of a LocalAPI connection.
type caller struct {
	uid   int
	known bool // the system told the peer's user (SO_PEERCRED)
	// own: root, or the daemon's own user. Such a caller holds the daemon's rights already, so
	// the daemon may open what it names with its own.
	own bool
}

// peerConn is a LocalAPI connection that knows its caller and the open file (SCM_RIGHTS) that
// came with its request, if any.
type peerConn interface {
	caller() caller
	// takeFile hands over the descriptor received on the connection; nil when none came.
	takeFile() *os.File
}

// errForbidden marks a publish request the caller has no right to make.
var errForbidden = errors.New("forbidden")

// authorize decides whether who may publish req.Path, and checks f, the caller's open file, when
// one came with the request. Devices are published for root and the daemon's own user only.
// Another user (one the socket's group lets in) publishes a file only by passing the descriptor
// it opened for reading: what it could not open, it cannot publish.
func authorize(req api.Publish, who caller, f *os.File) error {
	if pluginhost.IsURI(req.Path) {
		if !who.own {
			return fmt.Errorf("%w: publishing a device (%s) needs root: run dist push as root", errForbidden, req.Path)
		}
		return nil
	}
	if !filepath.IsAbs(req.Path) {
		return fmt.Errorf("%w: path %s is relative: give an absolute path", errBadPath, req.Path)
	}
	if f == nil {
		if who.own {
			return nil
		}
		return fmt.Errorf("%w: %s: no open file came with the request: dist push opens the file and passes it, so that only a file the caller can read is published", errForbidden, req.Path)
	}
	return sameOpenFile(f, req.Path)
}

// errBadPath marks a publish request naming a path the daemon will not try.
var errBadPath = errors.New("bad path")

// sameOpenFile checks that f is open for reading, is a regular file, and is the file at path now.
func sameOpenFile(f *os.File, path string) error {
	var b [1]byte
	if _, err := f.ReadAt(b[:], 0); err != nil && !errors.Is(err, io.EOF) {
		// Opened for writing only, or with O_PATH (which needs no read right).
		return fmt.Errorf("%w: %s: the file passed is not open for reading: open it for reading", errForbidden, path)
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %s: stat of the file passed: %w", errForbidden, path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file: only root publishes devices, as partition://<device>", errForbidden, path)
	}
	pi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errBadPath, path, err)
	}
	if !os.SameFile(fi, pi) {
		return fmt.Errorf("%w: %s is not the file that was passed (moved or replaced): publish it again", errForbidden, path)
	}
	return nil
}
