package local

import (
	"net"
	"syscall"
)

// peerUser answers the user id of the process at the other end of a unix socket connection.
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
		if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
			uid, found = int(cred.Uid), true
		}
	})
	return uid, found
}
