package controller

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"dist/core/api"
)

// mayReport admits a report only from the host it is about, and only about that host's own
// tasks: a host cannot mark another's task failed (it would delete its data) or done (a push
// would end with nothing delivered).
func mayReport(c caller, rep api.Report) error {
	if !c.mayActAs(rep.Host) {
		return errorf(http.StatusForbidden, codeForbidden, "host %s may not report for host %s: each host reports only its own tasks", c.name, rep.Host)
	}
	for _, t := range rep.Tasks {
		if _, host, _, ok := api.SplitAssignmentID(t.ID); !ok || host != rep.Host {
			return errorf(http.StatusForbidden, codeForbidden, "task %s is not a task of host %s: a host reports only its own tasks", t.ID, rep.Host)
		}
	}
	return nil
}

// mayRegister admits a registration only for the caller's own name and with addresses it may
// use (addrAllowed): a host cannot announce itself, or another, at an address that is not its own
// and so draw a swarm's traffic there.
func (s *Server) mayRegister(r *http.Request, h api.Host) error {
	c := callerOf(r)
	if !c.mayActAs(h.Name) {
		return errorf(http.StatusForbidden, codeForbidden, "host %s may not register as %s: a host registers only itself", c.name, h.Name)
	}
	prev, known, err := s.hostByName(r.Context(), h.Name)
	if err != nil {
		return err
	}
	for _, a := range []struct{ what, addr string }{{"http_url", urlHost(h.HTTPURL)}, {"bt_addr", addrHost(h.BTAddr)}} {
		if a.addr == "" {
			continue
		}
		var kept []string
		if known {
			kept = []string{urlHost(prev.HTTPURL), addrHost(prev.BTAddr)}
		}
		if !addrAllowed(a.addr, h.Name, c.remote, kept) {
			return errorf(http.StatusForbidden, codeForbidden,
				"host %s may not announce %s %s: use an address of the connection it registers from (%s), or a name under its own",
				h.Name, a.what, a.addr, c.remote)
		}
	}
	return nil
}

// addrAllowed is the address policy of registrations. An announced address is accepted when
//   - the host registers over loopback: it runs on the controller's own machine (a lab, the demo,
//     the controller's own agent), and what it announces reaches only this machine's hosts;
//   - it is the IP the host registers from;
//   - it is a DNS name that is the host's own name or under it ("c1", "c1.example.net" for c1):
//     the name in its certificate;
//   - it is what the host had announced before (an address kept across re-registrations).
func addrAllowed(addr, name, remote string, kept []string) bool {
	from, err := netip.ParseAddr(remote)
	if err == nil && from.Unmap().IsLoopback() {
		return true
	}
	if ip, err := netip.ParseAddr(addr); err == nil {
		if from.IsValid() && ip.Unmap() == from.Unmap() {
			return true
		}
	} else if name != "" && (strings.EqualFold(addr, name) || strings.HasPrefix(strings.ToLower(addr), strings.ToLower(name)+".")) {
		return true
	}
	for _, k := range kept {
		if k != "" && k == addr {
			return true
		}
	}
	return false
}

// urlHost is the host part of a base URL, without brackets or port.
func urlHost(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw // unparsable: compared as it is, so it matches nothing but itself
	}
	return u.Hostname()
}

// addrHost is the host part of host:port.
func addrHost(a string) string {
	if a == "" {
		return ""
	}
	h, _, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	return h
}
