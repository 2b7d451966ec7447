package controller

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"dist/core/api"
)

// registerHost answers POST /v1/hosts: a daemon announces itself or refreshes its addresses.
func (s *Server) registerHost(w http.ResponseWriter, r *http.Request) error {
	var h api.Host
	if err := decode(w, r, &h); err != nil {
		return err
	}
	if err := checkHost(h); err != nil {
		return err
	}
	if err := validHostName(h.Name); err != nil {
		return err
	}
	if err := s.mayRegister(r, h); err != nil {
		return err
	}
	for _, role := range h.Roles {
		if !role.Valid() {
			return badRequest("unknown role %q: use controller, relay or client", role)
		}
	}
	h.LastSeen = s.now()
	h.Online = false // the store does not keep it: liveness is judged from LastSeen
	if err := s.putHost(r.Context(), h); err != nil {
		return fmt.Errorf("store host %s: %w", h.Name, err)
	}
	// A host that matches a live distribution's selectors joins it (joiners.go). Otherwise no
	// wake-up: a registration changes nobody's tasks, and waking every held watch for each one
	// would cost N² answers when a fleet of N hosts starts.
	if err := s.join(r.Context(), h); err != nil {
		return fmt.Errorf("join %s to live distributions: %w", h.Name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// validHostName rejects names that would break assignment ids ("<dist>/<host>/<role>") or selectors.
func validHostName(name string) error {
	switch {
	case name == "":
		return badRequest("host name is empty: set --name")
	case strings.ContainsAny(name, "/= \t\r\n"):
		return badRequest("host name %q holds '/', '=' or a space: set --name to a plain name", name)
	case name == "all":
		return badRequest("host name \"all\" is reserved (it selects every host): set --name")
	}
	return nil
}

// listHosts answers GET /v1/hosts.
func (s *Server) listHosts(w http.ResponseWriter, r *http.Request) error {
	hs, err := s.allHosts(r.Context())
	if err != nil {
		return fmt.Errorf("list hosts: %w", err)
	}
	now := s.now()
	for i := range hs {
		// A host waiting for approval shows whether it is there; a denied or revoked one is not.
		hs[i].Access = s.accessOf(hs[i])
		hs[i].Online = s.seenLive(hs[i], now) && (hs[i].Access == "" || hs[i].Access == accessPending)
	}
	if hs == nil {
		hs = []api.Host{}
	}
	writeJSON(w, http.StatusOK, hs)
	return nil
}

// online reports whether h is live and may take part (accessOf: not waiting for approval, denied
// or revoked): what peers asks and relay choices go by.
func (s *Server) online(h api.Host, now time.Time) bool {
	return s.seenLive(h, now) && s.accessOf(h) == ""
}

// seenLive reports whether h was seen within the online window and has not said goodbye since
// (goodbye.go). Watches touch the host at least once per api.WatchPollTimeout, which is shorter
// than the default window.
func (s *Server) seenLive(h api.Host, now time.Time) bool {
	return !h.LastSeen.IsZero() && now.Sub(h.LastSeen) <= s.o.OnlineWindow && !s.saidGoodbye(h.Name, h.LastSeen)
}
