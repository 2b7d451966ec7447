package controller

import (
	"errors"
	"fmt"
	"net/http"

	"dist/core/api"
	"dist/core/store"
)

// memberOf reports whether host takes part in distribution id: an assignment of it (relay or
// client), or its publisher. v's lock is held.
func memberOf(v *distView, id, host string) bool {
	return host != "" && (v.d.Publisher == host || v.members[api.AssignmentID(id, host, api.RoleClient)] != nil ||
		v.members[api.AssignmentID(id, host, api.RoleRelay)] != nil)
}

// isMember answers GET /v1/distributions/{id}/members/{host}: whether host takes part in the
// distribution. A host serving content (its HTTP routes) asks it about a caller before it answers
// with bytes; only a host that takes part itself may ask, so the route tells nobody else who is in.
func (s *Server) isMember(w http.ResponseWriter, r *http.Request) error {
	id, host := r.PathValue("id"), r.PathValue("host")
	c := callerOf(r)
	var askerIn, in bool
	if err := s.readView(r.Context(), id, func(v *distView) {
		askerIn, in = memberOf(v, id, c.name), memberOf(v, id, host)
	}); errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, codeNotFound, "distribution %s does not exist: see dist ls", id)
	} else if err != nil {
		return fmt.Errorf("read distribution %s: %w", id, err)
	}
	if c.verified && !askerIn {
		return errorf(http.StatusForbidden, codeForbidden, "host %s takes part in no task of distribution %s: it may not ask who does", c.name, id)
	}
	writeJSON(w, http.StatusOK, api.Membership{Member: in})
	return nil
}
