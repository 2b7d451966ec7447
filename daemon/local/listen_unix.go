//go:build !windows

package local

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// listenLocal listens on the LocalAPI's unix socket, readable and writable by the daemon's user and
// group only: the file system's permissions are the access check.
func listenLocal(socket string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory %s: %w", filepath.Dir(socket), err)
	}
	// A socket file left by a daemon that died would make Listen fail; a live daemon still answers.
	if _, err := os.Stat(socket); err == nil {
		if c, err := net.DialTimeout("unix", socket, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another daemon is listening there", socket)
		}
		_ = os.Remove(socket)
	}
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listen on socket %s: %w", socket, err)
	}
	_ = os.Chmod(socket, 0o660)
	return ln, nil
}
