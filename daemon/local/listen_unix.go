//go:build !windows

package local

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// listenLocal listens on the LocalAPI's unix socket, reachable by the daemon's own user (and
// root) only: the socket is created 0600 in a private directory and only then moved into place,
// so there is no moment at which another user could connect; and every connection's peer user is
// checked (peerUser) on systems that tell it.
func listenLocal(socket string) (net.Listener, error) {
	dir := filepath.Dir(socket)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("socket directory %s: %w", dir, err)
	}
	// A socket file left by a daemon that died would make Listen fail; a live daemon still answers.
	if _, err := os.Stat(socket); err == nil {
		if c, err := net.DialTimeout("unix", socket, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another daemon is listening there", socket)
		}
		_ = os.Remove(socket)
	}
	private, err := os.MkdirTemp(dir, ".sock-")
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", socket, err)
	}
	defer os.RemoveAll(private)
	tmp := filepath.Join(private, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on socket %s: %w", socket, err)
	}
	if err := os.Chmod(tmp, 0o600); err == nil {
		err = os.Rename(tmp, socket)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket %s: %w", socket, err)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the daemon removes the socket it moved into place
	}
	return peerChecked{ln}, nil
}

// peerChecked accepts only connections from the daemon's own user or root.
type peerChecked struct{ net.Listener }

func (l peerChecked) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, known := peerUser(c)
		if !known || uid == 0 || uid == os.Geteuid() {
			return c, nil
		}
		c.Close() // another user: the socket's mode should have kept them out already
	}
}
