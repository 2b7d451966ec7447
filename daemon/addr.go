package daemon

import (
	"cmp"
	"fmt"
	"net"
	"slices"

	"dist/core/api"
)

// advertiseAddr turns a listener address into one that others can dial: an unspecified address
// (":7700") becomes this machine's first non-loopback IPv4 address.
func advertiseAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return net.JoinHostPort(localIP(), fmt.Sprint(tcp.Port))
	}
	return tcp.String()
}

func localIP() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func sortReports(reps []api.TaskReport) {
	slices.SortFunc(reps, func(a, b api.TaskReport) int { return cmp.Compare(a.ID, b.ID) })
}
