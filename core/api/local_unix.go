//go:build !windows

package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
)

// dialLocal connects to a LocalAPI unix socket.
func dialLocal(ctx context.Context, socket string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", socket)
}

// PublishFile asks the LocalAPI at socket to publish p.Path, passing f, the caller's own open
// file of that path, along with the request (SCM_RIGHTS): a daemon that runs with more rights
// than its caller publishes only a file the caller could open for reading.
func PublishFile(ctx context.Context, socket string, p Publish, f *os.File) (Published, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		c, err := dialLocal(ctx, socket)
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			return nil, errors.New("local socket: not a unix socket connection")
		}
		return &rightsConn{UnixConn: uc, f: f}, nil
	}}
	defer tr.CloseIdleConnections()
	c := &Client{Base: "http://local", HTTP: &http.Client{Transport: tr}}
	return c.Publish(ctx, p)
}

// rightsConn sends its file's descriptor with the first bytes it writes: the request's.
type rightsConn struct {
	*net.UnixConn
	f    *os.File
	once sync.Once
}

func (c *rightsConn) Write(b []byte) (int, error) {
	var n int
	var err error
	sent := false
	c.once.Do(func() {
		sent = true
		raw, rerr := c.f.SyscallConn()
		if rerr != nil {
			err = rerr
			return
		}
		if cerr := raw.Control(func(fd uintptr) {
			n, _, err = c.UnixConn.WriteMsgUnix(b, syscall.UnixRights(int(fd)), nil)
		}); cerr != nil {
			err = cerr
		}
	})
	if !sent {
		return c.UnixConn.Write(b)
	}
	if err != nil || n == len(b) {
		return n, err
	}
	m, err := c.UnixConn.Write(b[n:]) // the descriptor went with the first n bytes
	return n + m, err
}
