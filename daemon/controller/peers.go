package controller

import (
	"net/http"

	"dist/core/api"
	"dist/core/selection"
)

// maxPeers is how many peers one answer hands out: enough for a healthy swarm, few enough that
// thousands of hosts do not all dial the same complete peers.
const maxPeers = 50

// peers answers GET /v1/distributions/{id}/peers?host=NAME: the tracker. The answer comes from
// memory (the distribution's view and the host index): at most maxPeers candidates are looked up,
// near ones first, and only they are ordered; neither the fleet nor the store is read.
func (s *Server) peers(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.URL.Query().Get("host")
	if name == "" {
		return badRequest("host is missing: ask as ?host=NAME")
	}
	if err := checkString("host", name, maxNameLen); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := s.distHead(ctx, id); err != nil { // 404 for an unknown id; builds the view once
		return err
	}
	self, ok, err := s.hostByName(ctx, name)
	if err != nil {
		return err
	}
	if !ok {
		// An unregistered asker still gets peers (ordered without locality): it may have been
		// started before the controller learned of it.
		self = api.Host{Name: name}
	}
	now := s.now()
	var cands []selection.PeerCand
	online := func(n string) (api.Host, bool) {
		h, ok := s.hosts.byName[n]
		return h, ok && s.online(h, now)
	}
	// Lock order: the views, then the hosts; never the other way.
	err = s.withView(ctx, id, func(v *distView) {
		s.hosts.mu.RLock()
		defer s.hosts.mu.RUnlock()
		cands = v.peerCands(self, maxPeers, online)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.Peers{Peers: selection.OrderPeers(self, cands, maxPeers)})
	return nil
}
