//go:build windows

package api

import (
	"context"
	"net"
	"os"
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

// PublishFile asks the LocalAPI to publish p.Path. The named pipe admits only SYSTEM, the
// Administrators and the daemon's own user, who may read what the daemon reads: f is not passed.
func PublishFile(ctx context.Context, socket string, p Publish, _ *os.File) (Published, error) {
	return NewLocal(socket).Publish(ctx, p)
}
