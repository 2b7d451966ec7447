//go:build windows

package local

import (
	"fmt"
	"net"
	"os"

	"github.com/Microsoft/go-winio"

	"dist/core/api"
)

// pipeSecurity lets SYSTEM, the Administrators and the pipe's owner in; nobody else.
const pipeSecurity = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)"

// listenLocal listens on the named pipe that stands for the LocalAPI socket path on Windows. The
// pipe is created exclusively (go-winio creates its first instance with FILE_CREATE, which is
// what FILE_FLAG_FIRST_PIPE_INSTANCE does), so that a pipe of that name made first by another
// user makes the daemon fail instead of serving on it.
// A socket group does not apply: the pipe's security descriptor is the access check.
func listenLocal(socket, _ string) (net.Listener, error) {
	name := api.PipeName(socket)
	ln, err := winio.ListenPipe(name, &winio.PipeConfig{SecurityDescriptor: pipeSecurity})
	if err != nil {
		return nil, fmt.Errorf("listen on pipe %s: %w", name, err)
	}
	return pipeListener{ln}, nil
}

// pipeListener marks every connection as the pipe's: only SYSTEM, the Administrators and the
// daemon's own user can open it, so each caller holds the daemon's rights.
type pipeListener struct{ net.Listener }

func (l pipeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return pipeConn{c}, nil
}

type pipeConn struct{ net.Conn }

func (pipeConn) caller() caller     { return caller{own: true} }
func (pipeConn) takeFile() *os.File { return nil }
