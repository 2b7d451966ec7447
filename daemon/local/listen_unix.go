//go:build !windows

package local

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// listenLocal listens on the LocalAPI's unix socket, reachable by the daemon's own user (and
// root) only, or with a group also by that group's members: the socket is created 0600 (0660 and
// the group) in a private directory and only then moved into place, so there is no moment at
// which another user could connect; and every connection's peer user is checked (peerUser) on
// systems that tell it.
func listenLocal(socket, group string) (net.Listener, error) {
	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
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
	mode := os.FileMode(0o600)
	if gid >= 0 {
		mode = 0o660
		err = os.Chown(tmp, -1, gid)
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, socket)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket %s: %w", socket, err)
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the daemon removes the socket it moved into place
	}
	return peerChecked{Listener: ln, group: gid >= 0}, nil
}

// lookupGroup answers the id of a group given by name or number.
func lookupGroup(group string) (int, error) {
	g, err := user.LookupGroup(group)
	if err != nil {
		if g, err = user.LookupGroupId(group); err != nil {
			return 0, fmt.Errorf("socket group %s: no such group: give a group name or id of this host", group)
		}
	}
	id, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("socket group %s: id %q: %w", group, g.Gid, err)
	}
	return id, nil
}

// peerChecked accepts connections from the daemon's own user or root; with a socket group from
// anyone the socket's mode let in (the kernel checked the group), each marked with its user.
type peerChecked struct {
	net.Listener
	group bool
}

func (l peerChecked) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			continue
		}
		uid, known := peerUser(c)
		own := known && (uid == 0 || uid == os.Geteuid())
		if !known {
			own = !l.group // only the daemon's user and root can open a 0600 socket
		}
		if own || l.group { // unknown with a group: let in by the kernel, as nobody in particular
			return &localConn{UnixConn: uc, who: caller{uid: uid, known: known, own: own}}, nil
		}
		c.Close() // another user: the socket's mode should have kept them out already
	}
}

// maxFiles is how many descriptors one read takes in; a request brings one, the rest are closed.
const maxFiles = 4

// localConn is a LocalAPI connection: it knows its caller and keeps the first descriptor the
// caller sent with its request (SCM_RIGHTS).
type localConn struct {
	*net.UnixConn
	who caller
	oob []byte

	mu   sync.Mutex
	file *os.File
	done bool
}

func (c *localConn) caller() caller { return c.who }

func (c *localConn) takeFile() *os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.file
	c.file = nil
	return f
}

func (c *localConn) Read(b []byte) (int, error) {
	if c.oob == nil {
		c.oob = make([]byte, syscall.CmsgSpace(maxFiles*4))
	}
	n, oobn, _, _, err := c.UnixConn.ReadMsgUnix(b, c.oob)
	if oobn > 0 {
		c.keep(c.oob[:oobn])
	}
	if n < 0 {
		n = 0 // the system call's -1 on an error
	}
	if n == 0 && err == nil && len(b) > 0 {
		err = io.EOF // ReadMsgUnix answers the end of a stream as no bytes and no error
	}
	return n, err
}

// keep takes the descriptors of control messages: the first one is kept, any other closed.
// The runtime receives them close-on-exec.
func (c *localConn) keep(oob []byte) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if c.file != nil || c.done {
				syscall.Close(fd)
				continue
			}
			c.file = os.NewFile(uintptr(fd), "descriptor from the caller")
		}
	}
}

func (c *localConn) Close() error {
	c.mu.Lock()
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
	c.done = true
	c.mu.Unlock()
	return c.UnixConn.Close()
}
