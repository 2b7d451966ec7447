//go:build darwin || freebsd

package local

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUser answers the user id of the process at the other end of a unix socket connection
// (LOCAL_PEERCRED).
func peerUser(c net.Conn) (int, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	uid, found := 0, false
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED); err == nil {
			uid, found = int(cred.Uid), true
		}
	})
	return uid, found
}
