package controller

import (
	"net/http"
	"net/netip"

	"dist/core/api"
)

// GuardMetrics admits GET /metrics only from this machine (loopback: a local Prometheus or
// node exporter, an operator on the host) or with a token of role read or above (a Prometheus
// elsewhere, with bearer_token_file): the figures name distributions and hosts, which a
// stranger on the network has no business learning. Hosts' certificates do not open it.
func (s *Server) GuardMetrics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip, err := netip.ParseAddr(remoteIP(r)); err == nil && ip.Unmap().IsLoopback() {
			h.ServeHTTP(w, r)
			return
		}
		if tok, ok := bearer(r); ok {
			if _, role, known := s.tokenRole(tok); known && role >= RoleRead {
				h.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="dist"`)
		writeJSON(w, http.StatusUnauthorized, api.Error{Code: api.CodeUnauthorized,
			Error: "metrics need a token of role read or above (or a request from this machine): set bearer_token_file"})
	})
}
