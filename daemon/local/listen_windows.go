//go:build windows

package local

import (
	"fmt"
	"net"

	"github.com/Microsoft/go-winio"

	"dist/core/api"
)

// pipeSecurity lets SYSTEM, the Administrators and the pipe's owner in; nobody else.
const pipeSecurity = "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)"

// listenLocal listens on the named pipe that stands for the LocalAPI socket path on Windows.
func listenLocal(socket string) (net.Listener, error) {
	name := api.PipeName(socket)
	ln, err := winio.ListenPipe(name, &winio.PipeConfig{SecurityDescriptor: pipeSecurity})
	if err != nil {
		return nil, fmt.Errorf("listen on pipe %s: %w", name, err)
	}
	return ln, nil
}
