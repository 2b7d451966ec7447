//go:build windows

package api

import (
	"context"
	"net"
	"strings"

	"github.com/Microsoft/go-winio"
)

// PipeName maps a LocalAPI socket path to the named pipe that stands for it on Windows: a path
// that already names a pipe is kept, any other becomes \\.\pipe\dist-<path with separators
// replaced>, so that daemons with different data directories do not collide.
func PipeName(socket string) string {
	if strings.HasPrefix(socket, `\\.\pipe\`) {
		return socket
	}
	r := strings.NewReplacer(`\`, "-", "/", "-", ":", "")
	return `\\.\pipe\dist-` + strings.ToLower(r.Replace(socket))
}

// dialLocal connects to the LocalAPI's named pipe.
func dialLocal(ctx context.Context, socket string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, PipeName(socket))
}
