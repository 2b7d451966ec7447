//go:build !windows

package api

import (
	"context"
	"net"
)

// dialLocal connects to a LocalAPI unix socket.
func dialLocal(ctx context.Context, socket string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", socket)
}
